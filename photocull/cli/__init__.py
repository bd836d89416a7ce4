"""The photocull command: thin click commands over the library."""
