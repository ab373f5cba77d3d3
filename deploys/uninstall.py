"""Remove the stack from hosts: services, units, binaries, configs and release history.

    pyinfra inventories/lab.py deploys/uninstall.py [--data purge=true]

Every component the host's roles could run goes, newest first, as its catalog entry says
(``obsstack.catalog``). Monitoring data (/var/lib/<component>) and the daemon accounts stay
unless ``purge`` is set, so a later deploy picks up where it left off; so do the backups of
replaced config files, but for any copy of a file that held a secret (earlier versions kept
some). On the observability server the proxy's site and password files go; nginx, certbot
(and the certificate) and the firewall stay.
"""

from deploys.entrypoints import uninstall

uninstall()
