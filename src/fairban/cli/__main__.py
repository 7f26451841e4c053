"""``python -m fairban.cli``: the same as the ``fairban`` command."""

from fairban.cli import main

main()
