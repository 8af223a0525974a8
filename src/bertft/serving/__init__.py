"""Serving: the HTTP app (`serve`), micro-batching (`batching`) and server metrics."""
