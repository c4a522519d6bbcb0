"""The Mesos backend: the v1 scheduler HTTP API (``client``), leading-master detection in
ZooKeeper (``detector``), and the backend the scheduler drives (``backend``)."""
