"""One receive session: what `wskrecv listen`, `event` and `run` run once their options
are parsed (wskrecv.program.receive is the door), and the assembly `wskrecv bench` times.

- receive.py: `ReceiveSession`, which owns a run from end to end whatever carries it out:
  the user's client (`run`), the metrics endpoint, the sockets, the start information,
  the reporter, the capture, and the epilogue (the client's report, the error line, the
  threshold line, the exit status);
- single.py and workers.py: its two strategies, one receive loop in this process
  (`OneProcess`: --dump, --pcap, --iperf3 ride on it) or N worker processes and the
  parent's coordinator (`Workers`, for --workers);
- assembly.py: the WSK model, the hosted client, the recorder and the runner on one open
  socket (`build_runner`): what each strategy runs, and what `wskrecv bench` times;
- outputs.py: the reporter a run's options ask for, the --dump sink, the metrics
  endpoint and the capture's last flush.

Click-free: errors are WskrecvError subclasses (wskrecv/errors.py). Nothing is imported
here, so that `--help` does not pay for the receive machinery.
"""
