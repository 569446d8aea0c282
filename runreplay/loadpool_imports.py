"""What the load workers' fork server imports before it forks them, with Ctrl-C held off.

Imported by that fork server only (runreplay.loadpool.WORKER_PRELOAD). A terminal's
Ctrl-C reaches the whole process group, and the fork server ignores SIGINT only once its
imports are done: a Ctrl-C in the ~0.5 s its start takes printed the fork server's
KeyboardInterrupt traceback under the load's own "Aborted!". It starts with SIGINT blocked
(runreplay.loadpool.start_fork_server); here it is ignored, which drops one that arrived
meanwhile, and unblocked. The loading process still gets the Ctrl-C and stops the load;
the fork server ends with it. The handler is put back afterwards, because the fork server
hands it on to every process it forks.
"""

import signal

_previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # drops one that waits
try:
    # pyarrow imports pandas on its first conversion of a Python list (~0.2 s): imported
    # here once, not by every worker
    import pandas  # noqa: F401

    from runreplay import ingest, loadpool  # noqa: F401
finally:
    signal.signal(signal.SIGINT, _previous)
