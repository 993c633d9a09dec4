"""The application: wires the stages into a poll cycle (``pipeline``, ``service``), runs
it on a schedule (``daemon``) and exposes health and metrics (``health``).
"""
