"""The host of every client: loads a user's client file (`wskrecv run`), runs the built-in
ones too, watches them (the watchdog, the socket lock) and says whose fault a failure was."""
