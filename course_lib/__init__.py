"""course_lib: the shared package of the diffusion sprites course.

One concept per module, imports flowing one way (a module imports only those before it):
config, files, seeding -> model -> device -> schedules -> samplers -> images, sprites ->
checkpoints -> data -> training, features -> metrics -> report -> viz, anatomy -> evaluation -> pipeline,
widgets -> checks -> exercises -> assignments -> editing -> cli.
The README's module map says what each one holds.
"""
