"""Options that name a move or select what it moves, shared by the dbferry.mysql modules.

DOCUMENTATION (``dbferry.mysql.move``): ``name`` and ``state_dir``, which find a
move on the ferry host. SELECTION (``dbferry.mysql.move.selection``):
``databases`` and ``tables``. They mirror move_options.py and selection.py;
literal text because ansible-test reads fragments without running them.
"""

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """Doc fragments, used as dbferry.mysql.move and dbferry.mysql.move.selection."""

    DOCUMENTATION = r"""
options:
  name:
    description: The move's name; its state folder, log and lock are per name (letters, digits, C(-) and C(_)).
    type: str
    required: true
  state_dir:
    description: The move's state folder on the ferry host. Default C(~/.dbferry/moves/<name>).
    type: path
"""

    SELECTION = r"""
options:
  databases:
    description:
      - Which databases to move. V(include) and V(exclude) are lists of shell-style patterns (C(*), C(?), C([...])),
        matched case-sensitively. An empty or missing V(include) selects every database except the system
        schemas and C(_dbferry); V(exclude) always wins.
      - A plain name in V(include) that does not exist on the source is an error.
    type: dict
    suboptions:
      include:
        description: Database name patterns to move.
        type: list
        elements: str
      exclude:
        description: Database name patterns to leave out.
        type: list
        elements: str
  tables:
    description:
      - Which tables of the selected databases to move, as C(db.table) patterns. An empty or missing
        V(include) selects every table; V(exclude) always wins.
    type: dict
    suboptions:
      include:
        description: C(db.table) patterns to move.
        type: list
        elements: str
      exclude:
        description: C(db.table) patterns to leave out.
        type: list
        elements: str
"""
