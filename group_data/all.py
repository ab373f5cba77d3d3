"""Settings for every host. Validated once at load by obsstack.settings.

Every setting has its default in the catalog (obsstack/catalog/: with the component it
belongs to, listed with what it does in README "Settings"). This file loads them all, the
lowest layer of group data; the lines below it, group_data/<group>.py and the inventory
override them.
"""

from obsstack.catalog import setting_defaults as _setting_defaults

# pyinfra takes group data from this module's names: each default becomes one.
globals().update(_setting_defaults())

# Overrides for this deployment go here, for example:
#
#   environment = "staging"
#   artifact_source = "https://mirror.yourcompany.tld/observability"  # or a directory
#   agents = ["nginx", "php_fpm", "fail2ban"]  # instead of "auto" (detected at each deploy)
#   firewall_extra_rules = [{"port": 25, "source": "198.51.100.0/24", "comment": "smtp"}]
#
# A dict replaces the whole default: to change one alert threshold or pin, start from it:
#
#   alert_rules = {**alert_rules, "instance_down_for": "5m"}
#   releases = {**releases, "prometheus": {"version": "3.5.5", "sha256": "<64 hex>"}}
