"""Critical-raw-materials news monitor.

feeds -> fetch -> parse -> store -> match -> digest/alert -> notify, driven by a daemon.
"""

__version__ = "0.1.0"
PRODUCT = "raw-materials-monitor"
USER_AGENT = f"{PRODUCT}/{__version__} (+https://github.com/raw-materials-monitor/monitor)"
