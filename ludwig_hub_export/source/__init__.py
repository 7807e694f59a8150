"""Reading what Ludwig saved: where the model is (a save, a run, results, a hyperopt, object storage), what kind it
is, and whether it is fit to publish. Nothing here writes or talks to the Hub."""
