"""The reproduction plan of the CIFAR-LT tables: every run as data (:mod:`.plan`), its estimated cost
(:mod:`.costs`), the scheduler that runs rows side by side (:mod:`.runner`) and the records and tables
(:mod:`.records`). The command line is ``benchmarks/reproduce.py``."""
