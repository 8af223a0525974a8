"""Training: a fine-tuning run from checked data to the best model saved.

The run itself (`train`), whole checkpoints and resume (`checkpoint`), several processes
under torchrun (`distributed`), per-class loss weights (`class_weights`), experiment
trackers (`trackers`), a learning rate per layer (`layer_decay`) and the `TrainingArguments`
settings passed through to the Trainer (`passthrough`). Import the modules themselves: this
package re-exports nothing, so that importing one stage never pulls in another.
"""
