"""Intra (image) codec model with quantisation-aware training that simulates the integer profile.

Shared by train_intra.py (training), export_intra.py (IR export and checks).

Integer profile simulated exactly in float32 (see sdk/mlvc/intops/graph.py):
  * weights: per output channel, int8 multiples of 4 in [-124, 124], scale 2**w_exp[c];
  * bias: int32 with bias % 4 == 2 in accumulator units 2**(in_exp + w_exp[c]);
  * activations: int8, real = (q - zp) * 2**exp; ReLU outputs zp = -128, others zp = 0;
  * requantisation shift k = out_exp - in_exp - w_exp[c] in [3, 30];
  * accumulator bound 255 * sum|W_c| + |B_c| < 2**24.
Because every operand is an exact small integer times a power of two and all partial sums stay
below 2**24 units, a float32 convolution of the fake-quantised tensors computes the integer
accumulator exactly, so the fp32 QAT forward (``compute_dtype=tf.float32``) reproduces the integer
executor bit for bit (up to the kernel's summation being exact, which the bound guarantees).
Quantisers always run in float32; only the convolution itself may run in bfloat16 for training
(inputs and weights are exact in bf16; the conv output is rounded to bf16, a small training noise).
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

N, M, NZ = 64, 96, 64
LEVEL_EXPS = (1, 0, -1, -2)          # level L = 1..4 (1 = coarsest): step 2**e_L in y units
Y_EXP = -2
IMAGE_EXP = -7
Z_EXP = 0
MU_EXP = -2
SIGMA_EXP = 0
SIGMA_MIN = 0.11
TABLES_PER_OCTAVE = 8
NUM_TABLES = 80
LAMBDAS = (0.0045, 0.013, 0.04, 0.12)   # loss = bpp + lambda_L * MSE (0..255 scale)
ACC_LIMIT = float(1 << 24)
LIKELIHOOD_FLOOR = 1e-9
HEAD_INIT_SCALE = 0.1              # mu/sigma head weights at start: this times the fan-in std
RELU_BACKWARD_LEAK = 0.0           # training only: gradient slope below 0 for ReLU outputs (0.1 diverged)


# ---------------------------------------------------------------------------------------------
# exact float32 helpers
def pow2(e):
    """2**e for integer-valued float tensor e in [-126, 127], exact (built from the exponent bits)."""
    e = tf.cast(tf.round(e), tf.int32)
    return tf.bitcast(tf.bitwise.left_shift(e + 127, 23), tf.float32)


def ceil_log2(x):
    """ceil(log2(x)) for positive normal float32 x, exact (read from the bits)."""
    bits = tf.bitcast(tf.cast(x, tf.float32), tf.int32)
    e = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, 23), 255) - 127
    mant = tf.bitwise.bitwise_and(bits, (1 << 23) - 1)
    return tf.cast(e + tf.cast(mant != 0, tf.int32), tf.float32)


def ste(x, xq):
    return x + tf.stop_gradient(xq - x)


def ste_round(x):
    return ste(x, tf.round(x))


def ste_floor_half_up(x):
    """floor(x + 0.5) (integer 'round half up' = (q + (1 << (d-1))) >> d) with identity gradient."""
    return ste(x, tf.floor(x + 0.5))


# ---------------------------------------------------------------------------------------------
class ActQ(tf.Module):
    """Quantisation of one activation tensor: fixed exp, or calibrated (EMA of batch max)."""

    def __init__(self, name, relu, exp=None):
        super().__init__(name=name.replace("/", "_"))
        self.tname = name
        self.relu = relu
        self.zp = -128 if relu else 0
        self.levels = 255.0 if relu else 127.0
        self.fixed = exp is not None
        self.exp = tf.Variable(float(exp if exp is not None else 0.0), trainable=False, name="exp")
        self.amax = tf.Variable(-1.0, trainable=False, name="amax")

    def qrange(self):
        return (0.0, 255.0) if self.relu else (-128.0, 127.0)   # (q - zp) range

    def fake_quant(self, a):
        s = pow2(self.exp)
        lo, hi = self.qrange()
        v = tf.clip_by_value(a / s, lo, hi)
        out = ste_round(v)
        if self.relu and RELU_BACKWARD_LEAK > 0:
            # forward unchanged (exact ReLU + clamp); backward leaks a small gradient below 0 so
            # ReLU channels that died (all-negative pre-activations) can recover.
            below = tf.minimum(a / s - lo, 0.0)
            out = out + RELU_BACKWARD_LEAK * (below - tf.stop_gradient(below))
        return out * s

    def update(self, bmax, mode):
        """mode 0: frozen, 1: EMA update, 2: init (take batch max)."""
        if self.fixed:
            return
        bmax = tf.maximum(tf.cast(bmax, tf.float32), 0.25)   # floor: exp >= -9 (ReLU)
        new = tf.where(self.amax < 0, bmax, 0.99 * self.amax + 0.01 * bmax)
        new = tf.where(mode == 2, bmax, new)
        amax = tf.where(mode > 0, new, self.amax)
        self.amax.assign(amax)
        exp = ceil_log2(amax / self.levels)
        self.exp.assign(tf.where(mode > 0, exp, self.exp))


class QConv(tf.Module):
    def __init__(self, name, k, cin, cout, stride, relu, qin: ActQ, qout: ActQ, seed,
                 trainable=True):
        super().__init__(name=name.replace("/", "_"))
        self.lname = name
        self.k, self.cin, self.cout, self.stride, self.relu = k, cin, cout, stride, relu
        self.qin, self.qout = qin, qout
        std = math.sqrt(2.0 / (k * k * cin)) if relu else math.sqrt(1.0 / (k * k * cin))
        init = tf.random.stateless_truncated_normal([k, k, cin, cout], seed=[seed, 7]) * std
        self.w = tf.Variable(init, name="w", trainable=trainable)
        self.b = tf.Variable(tf.zeros([cout]), name="b", trainable=trainable)

    # -- integer parameters (the single definition used by QAT and by the exporter) ----------
    def int_params(self):
        """(w_int [kh,kw,cin,cout] float, w_exp [cout] float, b_int [cout] float), all exact ints."""
        in_exp, out_exp = self.qin.exp, self.qout.exp
        w, b = self.w, self.b
        m = tf.reduce_max(tf.abs(w), axis=[0, 1, 2])
        e_w = ceil_log2(tf.maximum(m, 1e-30) / 124.0)
        e_b = ceil_log2(tf.maximum(tf.abs(b), 1e-30) / 2.0 ** 22) - in_exp
        e = tf.clip_by_value(tf.maximum(e_w, e_b), out_exp - in_exp - 30, out_exp - in_exp - 3)

        def ints(e):
            wi = tf.clip_by_value(tf.round(w / pow2(e + 2)), -31.0, 31.0) * 4.0  # never -128 (Arm int16 pairs)
            bi = tf.round((b / pow2(in_exp + e) - 2.0) / 4.0) * 4.0 + 2.0
            bound = 255.0 * tf.reduce_sum(tf.abs(wi), axis=[0, 1, 2]) + tf.abs(bi)
            return wi, bi, bound

        _, _, bound = ints(e)
        e = tf.where(bound >= ACC_LIMIT, e + 1.0, e)
        wi, bi, _ = ints(e)
        return wi, e, bi

    def __call__(self, x, qat=True, cdt=tf.float32, stats=None):
        if qat:
            wi, e, bi = self.int_params()
            wq = ste(self.w, wi * pow2(e))
            bq = ste(self.b, bi * pow2(self.qin.exp + e))
        else:
            wq, bq = self.w, self.b
        a = tf.nn.conv2d(tf.cast(x, cdt), tf.cast(wq, cdt), self.stride, "SAME")
        a = tf.cast(a, tf.float32) + bq
        if stats is not None:
            stats[self.qout.tname] = tf.reduce_max(a if self.relu else tf.abs(a))
        if not qat:
            return tf.nn.relu(a) if self.relu else a
        return self.qout.fake_quant(a)


LIN_BLOCK = 16                       # the linear path's block: 16x16 pixels -> one latent


class Codec(tf.Module):
    def __init__(self, seed=0, ga_width=N, m=M, linear_path=False):
        """ga_width: hidden channels of the analysis g_a (encoder only: decode cost unchanged).
        m: latent channels.  linear_path: a linear transform beside the nonlinear branches of g_a
        and g_s (docs/training.md, "The linear path"): g_a adds a 16x16-block linear analysis
        (three fixed space-to-depth convolutions, then one learned 2x2 stride-2 conv to m
        channels) to its nonlinear output, g_s adds a learned 1x1 conv m -> 768 followed by
        depth-to-space 16.  init_linear_path() starts the pair as a block KLT with the
        nonlinear branches' last layers at zero, so training starts from the KLT's picture."""
        super().__init__(name="codec")
        self.ga_width = ga_width
        self.m = m
        self.linear_path = linear_path
        A = {}

        def act(name, relu, exp=None):
            A[name] = ActQ(name, relu, exp)
            return A[name]

        s = [seed * 1000]

        def conv(name, k, cin, cout, stride, relu, qin, qout, trainable=True):
            s[0] += 1
            return QConv(name, k, cin, cout, stride, relu, qin, qout, s[0], trainable)

        image = act("image", False, IMAGE_EXP)
        y = act("y", False, Y_EXP)
        z = act("z", False, Z_EXP)
        mu = act("mu", False, MU_EXP)
        sig = act("sigma_index", False, SIGMA_EXP)
        # g_a
        a1, a2, a3 = act("g_a/a1", True), act("g_a/a2", True), act("g_a/a3", True)
        na = ga_width
        y_nl = act("g_a/y_nl", False, Y_EXP) if linear_path else y
        self.g_a = [conv("g_a/conv1", 5, 3, na, 2, True, image, a1),
                    conv("g_a/conv2", 5, na, na, 2, True, a1, a2),
                    conv("g_a/conv3", 5, na, na, 2, True, a2, a3),
                    conv("g_a/conv4", 5, na, m, 2, False, a3, y_nl)]
        # h_a
        b1, b2 = act("h_a/a1", True), act("h_a/a2", True)
        self.h_a = [conv("h_a/conv1", 3, m, N, 1, True, y, b1),
                    conv("h_a/conv2", 5, N, N, 2, True, b1, b2),
                    conv("h_a/conv3", 5, N, NZ, 2, False, b2, z)]
        # h_s
        c1, c2, h = act("h_s/u1", True), act("h_s/u2", True), act("h", True)
        self.h_s = [conv("h_s/conv1", 3, NZ, 4 * N, 1, True, z, c1),
                    conv("h_s/conv2", 3, N, 4 * N, 1, True, c1, c2),
                    conv("h_s/conv3", 3, N, N, 1, True, c2, h)]
        self.h_mu = conv("h_s/mu", 3, N, m, 1, False, h, mu)
        self.h_sigma = conv("h_s/sigma", 3, N, m, 1, False, h, sig)
        with tf.init_scope():
            # start the sigma head around table ~40 (sigma ~ 3.5 * 2**e_L)
            self.h_sigma.b.assign(tf.fill([m], 24.0))
        # g_s
        d1, d2, d3 = act("g_s/u1", True), act("g_s/u2", True), act("g_s/u3", True)
        x_nl = act("g_s/x_nl", False, IMAGE_EXP) if linear_path else image
        self.g_s = [conv("g_s/conv1", 3, m, 4 * N, 1, True, y, d1),
                    conv("g_s/conv2", 3, N, 4 * N, 1, True, d1, d2),
                    conv("g_s/conv3", 3, N, 4 * N, 1, True, d2, d3),
                    conv("g_s/conv4", 3, N, 12, 1, False, d3, x_nl)]
        self.g_a_lin, self.g_s_lin = [], None
        if linear_path:
            # 16x16 blocks by three exact space-to-depth steps (fixed identity weights at the
            # image's scale, so they move pixels without rounding), then the learned transform
            l1 = act("g_a/lin1", False, IMAGE_EXP)
            l2 = act("g_a/lin2", False, IMAGE_EXP)
            l3 = act("g_a/lin3", False, IMAGE_EXP)
            y_lin = act("g_a/y_lin", False, Y_EXP)
            self.g_a_lin = [conv("g_a/lin1", 2, 3, 12, 2, False, image, l1, trainable=False),
                            conv("g_a/lin2", 2, 12, 48, 2, False, l1, l2, trainable=False),
                            conv("g_a/lin3", 2, 48, 192, 2, False, l2, l3, trainable=False),
                            conv("g_a/lin4", 2, 192, m, 2, False, l3, y_lin)]
            x_lin = act("g_s/x_lin", False, IMAGE_EXP)
            self.g_s_lin = conv("g_s/lin", 1, m, 3 * LIN_BLOCK ** 2, 1, False, y, x_lin)
        self.acts = A
        self.z_param = tf.Variable(tf.fill([NZ], 40.0), name="z_param")

    # -- sub-networks (real-valued tensors in, real-valued tensors out) ----------------------
    @staticmethod
    def _add(a, b, exp, qat):
        """The IR's ADD: both inputs and the output share one scale, the int8 sum saturates."""
        s = a + b
        return tf.clip_by_value(s, -128.0 * 2.0 ** exp, 127.0 * 2.0 ** exp) if qat else s

    def run_g_a(self, x, qat=True, cdt=tf.float32, stats=None):
        h = x
        for c in self.g_a:
            h = c(h, qat, cdt, stats)
        if not self.linear_path:
            return h
        lin = x
        for c in self.g_a_lin:
            lin = c(lin, qat, cdt, stats)
        return self._add(lin, h, Y_EXP, qat)

    def run_h_a(self, x, qat=True, cdt=tf.float32, stats=None):
        for c in self.h_a:
            x = c(x, qat, cdt, stats)
        return x

    def run_h_s(self, x, qat=True, cdt=tf.float32, stats=None):
        x = tf.nn.depth_to_space(self.h_s[0](x, qat, cdt, stats), 2)
        x = tf.nn.depth_to_space(self.h_s[1](x, qat, cdt, stats), 2)
        h = self.h_s[2](x, qat, cdt, stats)
        return self.h_mu(h, qat, cdt, stats), self.h_sigma(h, qat, cdt, stats)

    def run_g_s(self, x, qat=True, cdt=tf.float32, stats=None):
        y = x
        for c in self.g_s[:3]:
            x = tf.nn.depth_to_space(c(x, qat, cdt, stats), 2)
        x = tf.nn.depth_to_space(self.g_s[3](x, qat, cdt, stats), 2)
        if not self.linear_path:
            return x
        lin = tf.nn.depth_to_space(self.g_s_lin(y, qat, cdt, stats), LIN_BLOCK)
        return self._add(lin, x, IMAGE_EXP, qat)

    def z_table_index(self):
        return tf.clip_by_value(ste_round(self.z_param), 0.0, NUM_TABLES - 1.0)

    def networks(self):
        """The convolutions of each sub-network, by IR role."""
        return {"g_a": self.g_a + self.g_a_lin, "h_a": self.h_a,
                "h_s": self.h_s + [self.h_mu, self.h_sigma],
                "g_s": self.g_s + ([self.g_s_lin] if self.g_s_lin is not None else [])}

    def all_convs(self):
        return [c for convs in self.networks().values() for c in convs]

    def update_acts(self, stats, mode):
        for name, a in self.acts.items():
            if not a.fixed and name in stats:
                a.update(stats[name], mode)

    def init_linear_path(self, blocks):
        """Start the linear path as the block KLT of `blocks` ([n, 768] pixel blocks scaled as
        the network's input, (p - 128) / 128, in depth-to-space order (row, column, colour)),
        the nonlinear branches' last layers at zero, and the entropy model at the KLT
        coefficients' per-channel mean and spread.  Returns the eigenvalues (coefficient
        energies, descending)."""
        n_pix = 3 * LIN_BLOCK ** 2
        blocks = np.asarray(blocks, np.float64)
        ev, vec = np.linalg.eigh(blocks.T @ blocks / len(blocks))
        order = np.argsort(ev)[::-1]
        ev, vec = ev[order], vec[:, order]
        vec = vec * np.where(vec.sum(axis=0) < 0, -1.0, 1.0)     # deterministic signs
        basis = vec[:, :self.m]                                  # [768, m], orthonormal columns
        # the space-to-depth steps: output channel (dy * 2 + dx) * cin + c copies input c
        for c in self.g_a_lin[:3]:
            w = np.zeros((2, 2, c.cin, c.cout), np.float32)
            for dy in range(2):
                for dx in range(2):
                    for ci in range(c.cin):
                        w[dy, dx, ci, (dy * 2 + dx) * c.cin + ci] = 1.0
            c.w.assign(w)
            c.b.assign(tf.zeros([c.cout]))
        # where each pixel of a block lands at the input of the learned 2x2 conv
        idx = tf.constant(np.arange(n_pix, dtype=np.float32).reshape(1, LIN_BLOCK, LIN_BLOCK, 3))
        for c in self.g_a_lin[:3]:
            idx = tf.nn.conv2d(idx, c.w, 2, "SAME")
        idx = np.rint(idx.numpy()[0]).astype(np.int64)           # [2, 2, 192]
        self.g_a_lin[3].w.assign(basis[idx].astype(np.float32))  # [2, 2, 192, m]
        self.g_a_lin[3].b.assign(tf.zeros([self.m]))
        self.g_s_lin.w.assign(basis.T[None, None].astype(np.float32))   # [1, 1, m, 768]
        self.g_s_lin.b.assign(tf.zeros([n_pix]))
        for c in (self.g_a[-1], self.g_s[-1]):
            c.w.assign(tf.zeros_like(c.w))
            c.b.assign(tf.zeros_like(c.b))
        coef = blocks @ basis
        mean, std = coef.mean(axis=0), coef.std(axis=0)
        self.h_mu.b.assign(mean.astype(np.float32))
        # sigma = SIGMA_MIN * 2**(index / TABLES_PER_OCTAVE) in y units
        idx_s = TABLES_PER_OCTAVE * np.log2(np.maximum(std, 0.02) / SIGMA_MIN)
        self.h_sigma.b.assign(idx_s.astype(np.float32))
        self.init_heads_small()
        return ev

    def init_heads_small(self, seed=11, scale=HEAD_INIT_SCALE):
        """Small random weights on the mu and sigma heads (biases kept).  Zero head weights
        stop every gradient into h_s, h_a and z, and the rate on z then drives z to 0 for all
        inputs: the hyper-latent collapses into a fixed per-channel prior (measured on the first
        mlvc-lp-v2 run, docs/training.md)."""
        for i, c in enumerate((self.h_mu, self.h_sigma)):
            std = scale * math.sqrt(1.0 / (c.k * c.k * c.cin))
            c.w.assign(tf.random.stateless_truncated_normal(c.w.shape, seed=[seed, i]) * std)

    def reinit_hyperprior(self, seed=11):
        """Start h_a, h_s and the z tables afresh on top of trained transforms (the heads' biases,
        the per-channel prior the collapsed model learned, are kept): the fix of a collapsed
        hyper-latent without retraining g_a and g_s."""
        for i, c in enumerate(self.h_a + self.h_s):
            std = (math.sqrt(2.0 / (c.k * c.k * c.cin)) if c.relu
                   else math.sqrt(1.0 / (c.k * c.k * c.cin)))
            c.w.assign(tf.random.stateless_truncated_normal(c.w.shape, seed=[seed, 100 + i]) * std)
            c.b.assign(tf.zeros_like(c.b))
        self.init_heads_small(seed)
        self.z_param.assign(tf.fill([NZ], 40.0))


    # -- full codec --------------------------------------------------------------------------
    def forward(self, pixels, d, mode="qat", noise=None, cdt=tf.float32, stats=None):
        """pixels: float [B,H,W,3] 0..255 (integers); d: int [B] in {0,1,2,3} (d = e_L - Y_EXP).

        mode 'qat': fake-quantised integer profile. noise: None (exact ints for rate) or a
        tf.random.Generator (uniform noise for the rate term, STE rounding for the decoder).
        mode 'float': float twin (no fake quant; y clamped and rounded to the level step only);
        also the float pre-training phase (straight-through rounding of y and z).
        Returns dict(x_hat [0..255 float], bits_y [B], bits_z [B]).
        """
        qat = mode == "qat"
        x = (pixels - 128.0) / 128.0
        d = tf.cast(tf.reshape(d, [-1, 1, 1, 1]), tf.float32)
        step_d = pow2(d)
        e_l = d + Y_EXP
        y = self.run_g_a(x, qat, cdt, stats)
        if qat:
            y_int = y / 2.0 ** Y_EXP                                  # exact ints (STE)
            q = ste_floor_half_up(y_int / step_d)
            yhat_int = ste(q * step_d, tf.clip_by_value(q * step_d, -128.0, 127.0))
            y_hat = yhat_int * 2.0 ** Y_EXP
        else:
            # float twin / float pre-training: y clamped to the int8 range of its exponent (as
            # the integer model is), rounded to the level step with a straight-through gradient
            y = tf.clip_by_value(y, -128 * 2.0 ** Y_EXP, 127 * 2.0 ** Y_EXP)
            q = ste_round(y / pow2(e_l))
            y_hat = q * pow2(e_l)
        z = self.run_h_a(y_hat, qat, cdt, stats)
        if not qat:
            z = ste_round(z)
        mu, sig = self.run_h_s(z, qat, cdt, stats)
        x_hat = self.run_g_s(y_hat, qat, cdt, stats)
        if qat:
            mu_l = ste_floor_half_up(mu / 2.0 ** MU_EXP / step_d)
            t = ste(sig, tf.clip_by_value(sig - 8.0 * e_l, 0.0, NUM_TABLES - 1.0))
        else:
            mu_l = mu / pow2(e_l)
            t = tf.clip_by_value(sig - 8.0 * e_l, 0.0, NUM_TABLES - 1.0)
        sigma = SIGMA_MIN * tf.pow(2.0, t / TABLES_PER_OCTAVE)
        if noise is not None:
            # y before rounding (clamped to the y range) plus uniform noise, in level-step units
            q_tilde = y / pow2(e_l) + noise.uniform(tf.shape(y), -0.5, 0.5)
            z_tilde = z + noise.uniform(tf.shape(z), -0.5, 0.5)
        else:
            q_tilde, z_tilde = q, z
        bits_y = tf.reduce_sum(-tf.math.log(gauss_likelihood(q_tilde - mu_l, sigma)), [1, 2, 3])
        sz = SIGMA_MIN * tf.pow(2.0, self.z_table_index() / TABLES_PER_OCTAVE)
        bits_z = tf.reduce_sum(-tf.math.log(gauss_likelihood(z_tilde, sz)), [1, 2, 3])
        lg2 = math.log(2.0)
        if qat:
            img = x_hat * 128.0 + 128.0
        else:
            img = tf.clip_by_value(x_hat * 128.0 + 128.0, 0.0, 255.0)
        return dict(x_hat=img, bits_y=bits_y / lg2, bits_z=bits_z / lg2, q=q, z=z)


def gauss_likelihood(s, sigma):
    """P(symbol s) for a zero-mean Gaussian discretised to unit bins (symmetric, stable form)."""
    s = tf.abs(s)
    c = 1.0 / (math.sqrt(2.0) * sigma)
    upper = 0.5 * tf.math.erfc((s - 0.5) * c)
    lower = 0.5 * tf.math.erfc((s + 0.5) * c)
    return tf.maximum(upper - lower, LIKELIHOOD_FLOOR)


def gauss_likelihood_np(s, sigma):
    from math import erfc, sqrt  # noqa: F401
    import scipy.special as sp  # optional; fallback below
    s = np.abs(s.astype(np.float64))
    c = 1.0 / (np.sqrt(2.0) * sigma)
    p = 0.5 * sp.erfc((s - 0.5) * c) - 0.5 * sp.erfc((s + 0.5) * c)
    return np.maximum(p, LIKELIHOOD_FLOOR)


def image_blocks(pixels: np.ndarray) -> np.ndarray:
    """[n, 768] 16x16 blocks of uint8 pictures [B, H, W, 3] as the network sees them,
    (p - 128) / 128, in depth-to-space order."""
    b, h, w, _ = pixels.shape
    k = LIN_BLOCK
    x = (pixels[:, :h - h % k, :w - w % k].astype(np.float32) - 128.0) / 128.0
    x = x.reshape(b, h // k, k, w // k, k, 3).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, 3 * k * k)
