"""Settings for monitored hosts (web servers running the exporters)."""
