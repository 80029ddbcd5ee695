"""``gpuplan serve``: a local web page over the same predictions and charts as ``gpuplan report``.

    >>> from gpuplan.web import make_server
    >>> srv = make_server("127.0.0.1", 0)      # doctest: +SKIP
    >>> srv.url; srv.serve_forever()            # doctest: +SKIP
"""

from gpuplan.web.server import make_server, search_gpus
from gpuplan.web.validate import FitRequest, check_config, check_model_name, parse_fit_request

__all__ = ["FitRequest", "check_config", "check_model_name", "make_server", "parse_fit_request", "search_gpus"]
