"""The quote API: the till asks what a basket gets before the sale, the stream's engine answers.

`service.QuoteService` computes one receipt exactly as the worker would (the batch pipeline's
load and processor, `BatchProcessor.preview`) and writes nothing; `app.make_app` serves it over
HTTP with bearer-token authentication (`auth`) and its own Prometheus metrics (`metrics`).
`streamproc quote-server` (commands/quote_server.py) runs it. docs/quote-api.md is the contract
for tills.
"""
