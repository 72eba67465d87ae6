"""``python -m townlet``: the ``townlet`` command (list, status, logs, stop, resume, ...)."""

from townlet.commands import main

if __name__ == "__main__":
    main()
