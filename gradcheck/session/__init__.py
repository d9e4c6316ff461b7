"""Session-level logic behind the gradcheck pytest plugin.

The option table (:mod:`.options`) and its resolution from the command line and the ini
file (:mod:`.settings`), the fixture's callable (:mod:`.checker`), result collection and
xdist merging (:mod:`.results`), what a test's failure becomes (:mod:`.outcomes`: a
headline for a failed check, :mod:`.headline`; a raised test otherwise), the terminal
summary text (:mod:`.summary`), and the session files (:mod:`.output`: the page of
:mod:`.page` and the JSON document). Every module here imports only the standard library
at load time, so loading the plugin stays cheap.
"""
