"""Development kit: a scriptable local SSE server and a driver that runs the plugin the way
Dify's daemon does. Used by the demo, the tests and the benchmarks; not part of the package."""
