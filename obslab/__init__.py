"""The local lab: real Debian hosts on this machine, and what deploys to them need.

Not part of the product: nothing in obsstack/, operations/, deploys/ or group_data/ imports
it, and the package (``pip install .``) leaves it out. Only inventories/lab.py, the lab's
invoke tasks and the tests use it.
"""
