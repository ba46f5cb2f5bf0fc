"""The node's one HTTP surface: the device OTA endpoint, health/readiness/metrics, the web console's pages and the
JSON API behind them, built by `app.build_app` over a narrow view of the node (`view.NodeView`)."""
