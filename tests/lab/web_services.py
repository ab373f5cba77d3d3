"""web1 as a user's web server: nginx, MariaDB, PHP-FPM and fail2ban installed with apt, a
second PHP-FPM pool on TCP with a status page of its own, and a front-controller site. The
product never installs the services it monitors; the lab tests do, once a session
(conftest's ``web1_services``).
"""

from __future__ import annotations

import secrets as token_source
from collections.abc import Callable
from dataclasses import dataclass

from conftest import on_host

from obsstack.deploy import DeployResult

APT = "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120"
# An application's database password, as pools carry them: it must never leave web1.
DB_PASSWORD = f"db-{token_source.token_urlsafe(18)}"
# A pool of the user's that has its own status page, on TCP (Debian's www is on a socket).
SHOP_POOL = f"""\
[shop]
user = www-data
group = www-data
listen = 127.0.0.1:9001
pm = static
pm.max_children = 2
pm.status_path = /status
env[DB_PASSWORD] = {DB_PASSWORD}
php_admin_value[mysqli.default_pw] = {DB_PASSWORD}
"""
# The user's site: a front controller that hands every URI to PHP-FPM's www pool, as many
# frameworks' nginx examples do. Our status page must not be reachable through it.
FRONT_CONTROLLER = """\
server {{
    listen 80 default_server;
    listen [::]:80 default_server;
    root /var/www/html;
    location / {{
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME /var/www/html/index.php;
        fastcgi_pass unix:/run/php/php{php}-fpm.sock;
    }}
}}
"""
INDEX_PHP = "<?php echo 'the application answers ', $_SERVER['SCRIPT_NAME'], \"\\n\";\n"


@dataclass(frozen=True)
class PhpFpm:
    version: str  # Debian's PHP, e.g. "8.4"
    www_md5: str  # Debian's www.conf as the package shipped it (dpkg's conffile record)

    @property
    def pool_dir(self) -> str:
        return f"/etc/php/{self.version}/fpm/pool.d"


def install_web_services(deploy: Callable[[], DeployResult]) -> PhpFpm:
    """nginx, MariaDB, PHP-FPM and fail2ban on web1 as a user's web server has them, a
    second pool with its own status page, and a deploy that finds them."""
    installed = on_host(
        "web1",
        f"{APT} install -y nginx mariadb-server php-fpm fail2ban"
        " && systemctl is-active nginx mariadb fail2ban 'php*-fpm'",
    )
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    version = on_host("web1", "ls /etc/php").stdout.split()[-1]
    conffiles = on_host("web1", f"dpkg-query -W -f='${{Conffiles}}' php{version}-fpm").stdout
    www_conf = f"/etc/php/{version}/fpm/pool.d/www.conf"
    php_fpm = PhpFpm(
        version, dict(line.split()[:2] for line in conffiles.splitlines() if line)[www_conf]
    )
    on_host("web1", f"cat > {php_fpm.pool_dir}/shop.conf", stdin=SHOP_POOL)
    on_host("web1", "cat > /var/www/html/index.php", stdin=INDEX_PHP)
    on_host(
        "web1",
        "rm -f /etc/nginx/sites-enabled/default && cat > /etc/nginx/sites-enabled/app",
        stdin=FRONT_CONTROLLER.format(php=version),
    )
    restarted = on_host("web1", f"systemctl restart php{version}-fpm && systemctl reload nginx")
    assert restarted.returncode == 0, restarted.stderr
    result = deploy()
    assert result.ok, result.log[-3000:]
    return php_fpm
