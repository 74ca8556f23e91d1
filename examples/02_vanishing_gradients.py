"""Vanishing gradients of the JS-GAN loss on the parallel lines, against the Earth-Mover loss.

P0 = (0, Z), P_theta = (theta, Z), Z ~ U[0, 1]. The generator's only parameter is theta.

* JS-GAN (Goodfellow et al. 2014, the "saturating" loss): the generator minimises
  E log(1 - D(G(z))) against a discriminator D. Here D(x) = sigmoid(w * x_1 + b), a logistic
  regression on the first coordinate, which is all a discriminator needs to separate the lines.
  As D is trained, it separates the two lines better and better, and the generator's gradient
  d/dtheta E log(1 - D) = -w * sigmoid(w * theta + b) goes to 0 (Arjovsky & Bottou 2017,
  Theorem 2.4). At the optimal D* the loss is 2 JS - log 4 = 0 for every theta != 0: flat.
* Earth-Mover: W1(P0, P_theta) = |theta|, whose gradient is sign(theta) = 1 for theta > 0,
  whatever the distance. Here it is computed by autograd through the exact LP
  (`kantorovich.ot.wasserstein`) on 200 samples.

The script prints both gradients; no figure.
"""
import math

import autograd
import autograd.numpy as anp
import numpy as np

from kantorovich.ot import wasserstein

theta = 0.5


def softplus(t):
    return max(t, 0.0) + math.log1p(math.exp(-abs(t)))


def sigmoid(t):
    return 0.5 * (1.0 + math.tanh(0.5 * t))


# 1. Train the discriminator by gradient descent on its loss
#    L_D = -log D(0) - log(1 - D(theta)) = softplus(-b) + softplus(w * theta + b)
#    (the real points have x_1 = 0, the generated ones x_1 = theta; z plays no role).
w, b, lr = 0.0, 0.0, 1.0
checkpoints = {10, 100, 1000, 10_000, 100_000}
print("JS-GAN on the parallel lines, theta = 0.5 (the generator is held still)")
print(f"{'D steps':>8} {'JS lower bound':>15} {'|dLoss_G/dtheta|':>17}")
for step in range(1, 100_001):
    if step in checkpoints:
        v = -softplus(-b) - softplus(w * theta + b)       # V(D) = E log D(real) + E log(1 - D(fake))
        js_bound = 0.5 * (v + math.log(4))                # C7: JS >= (V(D) + log 4) / 2
        grad_g = -w * sigmoid(w * theta + b)              # d/dtheta of E log(1 - D(G(z)))
        print(f"{step:8d} {js_bound:15.6f} {abs(grad_g):17.3e}")
    # gradient of L_D in (w, b)
    s_real, s_fake = sigmoid(-b), sigmoid(w * theta + b)
    w -= lr * (s_fake * theta)
    b -= lr * (-s_real + s_fake)
print(f"JS itself is log 2 = {math.log(2):.6f}: the better D is, the smaller the generator's gradient.")

# 2. The Earth-Mover loss: W1 between 200 points on each line, differentiated by autograd.
#    The two samples share their z's, so W1 = |theta| exactly and the gradient is 1.
z = np.linspace(0.0, 1.0, 200)
real = np.stack([np.zeros_like(z), z], axis=1)


def w1_loss(t):
    fake = anp.stack([t * anp.ones(200), anp.array(z)], axis=1)
    return wasserstein(real, fake, p=1)


print("\nEarth-Mover loss W1(P0, P_theta) from 200 samples, gradient by autograd:")
print(f"{'theta':>7} {'W1':>8} {'dW1/dtheta':>11}")
for t in (1.0, 0.5, 0.1, 0.01):
    print(f"{t:7.2f} {w1_loss(t):8.4f} {autograd.grad(w1_loss)(t):11.4f}")
print("The Earth-Mover gradient stays 1 however far apart the lines are: it always points home.")
