"""dorsi gait signal core: pure numpy/scipy, arrays in, results out, no I/O, no threads.

Frames and units: body-aligned foot frame (x toward the toes, y to the foot's left, z up when
the foot is flat); acceleration in m/s² (specific force), gyro in deg/s, time in s.
"""
