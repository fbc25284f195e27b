"""Network analysis: suspects and watchlists, the case graph, its statistics, exports and the
prioritisation of suspects and participants."""
