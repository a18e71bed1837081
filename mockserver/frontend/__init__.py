"""The frontend kit: what a frontend developer asks of a mock besides a faithful API.

Forced answers (`Prefer: code=404`, Prism-compatible), latency, faults, rate limits and the
dashboard's session cookie. `kit.Frontend` is what the API's WSGI layer calls, at a few named
places: it authenticates a session, admits a request (rate limit, preferences, delay, fault) and
answers it when an answer was forced. Nothing here changes the world; the control surface that
sets these knobs at run time is `mockserver.control`.
"""
