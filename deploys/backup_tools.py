"""Install only the backups of the observability server: restic, its repository's keys,
the script and its timers. ``invoke restore`` runs it first, so that a rebuilt server can
be restored before its first deploy.

    pyinfra inventories/lab.py deploys/backup_tools.py --limit obs
"""

from deploys.entrypoints import backup_tools

backup_tools()
