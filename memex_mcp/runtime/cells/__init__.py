"""The cell machinery: what each execution printed, kept whole and attributed, and its report.

    recorder.py     the IPython hooks around every cell: output, `history`, the server's report
    streams.py      tees of stdout and stderr, and whose output each write is
    routing.py      which execution keeps each piece of output and which reply shows it
    descriptors.py  output of subprocesses and C code (file descriptors 1 and 2)
    spool.py        output of any size in bounded memory
    history.py      `history` and `_outputs`
    tracebacks.py   short tracebacks of the user's own frames
    marker.py       which request the kernel began, for a server whose kernel died

Nothing here imports IPython at import time of the package: the server reads `marker` too.
"""
