"""The session's checkpoint: the user scope saved after each execution and loaded into a new kernel.

saver.py     what changed after a cell, and writing it after the reply (`Checkpointer`)
changes.py   which names a cell's code may have changed
values.py    how one value is pickled, whether it can come back, how big it is
handles.py   open files saved by path and reopened; other OS handles refused by name
store.py     the files on disk and how each is written crash-safe (the manifest)
restore.py   which variables a restore loads, and what is set aside
load.py      loading each variable back, bounded in time
"""
