"""Session-level logic behind the gradcheck pytest plugin.

Settings resolution (:mod:`.settings`), result collection and xdist merging
(:mod:`.results`), the terminal summary text (:mod:`.summary`) and the session
report files (:mod:`.output`). Every module here imports only the standard
library at load time, so loading the plugin stays cheap.
"""
