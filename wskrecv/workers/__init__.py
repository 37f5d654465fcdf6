"""`--workers N`: several receive processes on one address (SO_REUSEPORT), one run.

`pool` starts the worker processes (each its own socket, provider, WSK model,
application and recorder) and carries their statistics to the parent; `coordinator` is
the parent's loop: stop conditions, signals, the merged reports; `capture` joins the
workers' pcap files into one. The statistics merge itself is `wskrecv.stats.merge`.
"""
