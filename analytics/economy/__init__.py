"""The industrial-internet economic accounting system (中国工业互联网产业经济测算系统; issue 21).

Seeds 002 and 004 (附录二 测算方案) publish the method: direct value added from the related sectors
of the 2017 input-output table, penetration value added through virtual IIoT sectors and the
Leontief inverse, an annual multiplier from a Cobb-Douglas production function, regional weights
over the three sectors, and employment through labour productivity. Modules:

  settings     conf/economy/economy.yaml: input files and every choice the seeds leave open
  inputs       loading and validation of the input CSVs (file, row and column in every error)
  leontief     IO algebra (pymrio) of the base year: direct and penetration value added
  production   the OLS fit (statsmodels) and the annual multiplier
  extrapolate  linear extrapolation of series to years the inputs do not cover
  regions      three sectors, η and ω, provincial allocation
  employment   productivity and the employment driven
  accounts     everything together on pandas: inputs -> output tables
  report       published figures beside ours, and the identities
  schema       the output tables' Spark schemas (one place)
"""
