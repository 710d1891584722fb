"""The data-plane benchmark: a C load generator playing the GWLB, a C reflector baseline,
and the runner that measures gwlbd against that baseline in network namespaces."""
