"""Forecasting: many series, one model family (``task: forecasting``).

``panel.py`` turns rows into a checked, regular panel (one series per id), with
``keys.py`` (ids as text, the key of several id columns, ids that could name a
file refused) and ``grid.py`` (a frequency's anchored grid, gaps and filling);
``calendar.py`` knows the frequencies and the holiday features;
``forecasters.py`` is the ``FORECASTERS`` table (seasonal naive, statsforecast's
AutoETS, AutoTheta and AutoARIMA per series, a global LightGBM over every
series, Prophet as an extra);
``backtest.py`` runs rolling-origin windows and scores them; ``select.py``
chooses a model per series (or one for all) and calibrates the intervals.
Training (``training/forecast.py``) runs these on an engine; the registry
stores the result as one package (``registry/forecasts.py``).
"""

# OpenMP's wait policy is left to OpenMP (a short spin, then sleep): PASSIVE, set here
# before, made births' training 2.3x slower (11.3 s against 4.8 s) and the pizzas' 1.5x,
# as the recursive forecast's many small LightGBM predictions woke sleeping threads.
