"""The example clients of `wskrecv run`, installed with wskrecv as `wskrecv.examples`:
irp.py and event.py are what `wskrecv run --template irp|event` prints."""
