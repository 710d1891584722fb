"""The control plane: health, status, flows, metrics and admin actions of a running gwlbd.

- :mod:`~appliance.control.provider`: the interface the supervisor implements.
- :mod:`~appliance.control.http`: :class:`ControlServer`, the listeners' lifecycle.
- :mod:`~appliance.control.listeners`, :mod:`~appliance.control.routes`: HTTP plumbing, endpoints.
- :mod:`~appliance.control.metrics`: Prometheus families derived from the status document.
- :mod:`~appliance.control.query`: ``/flows`` parameters and flow selection (pure).
- :mod:`~appliance.control.client`: :class:`AdminClient` for the CLI, the TUI and scripts.
- :mod:`~appliance.control.report`: text reports for ``gwlbd status`` / ``gwlbd flows`` (pure).
- :mod:`~appliance.control.fake`: an in-memory provider for tests and demos.
"""
