"""The v1 spike cascade, reproduced small: model, data sources, mixer, runner, traces,
replay logic and the instructor widget. Import the submodules you need."""
