"""course_lib: the shared package of the diffusion sprites course.

One concept per module, data flowing one way:
schedules -> model -> samplers -> images.
"""
