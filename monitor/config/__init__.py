"""Settings: monitor.yaml and the files it names, validated once, at the edge.

``settings`` holds the whole validated config and its loader, ``feeds`` the per-feed
settings, ``channels`` the channel and subscription settings, ``opml`` feed lists in and out;
``yamlfile`` reads YAML keeping every key's line, ``units`` parses durations and sizes;
``starter`` writes a new user's files (``monitor init``).
"""
