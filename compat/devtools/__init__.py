"""Developer tools: benchmarks, screenshots, the browser driver. Nothing in the product imports them."""
