"""The browser page: Mesa's SolaraViz over a market, served by ``abm-hetero viz``."""
