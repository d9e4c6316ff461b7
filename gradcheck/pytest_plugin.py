"""pytest plugin for gradcheck (hooks, options and fixtures only)."""
