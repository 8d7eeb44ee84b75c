//! Command-line definitions (clap). Every flag is defined once, with its help and its default; the defaults shown
//! are those of configs/<command>.toml, which a `--config` file or the flag itself overrides.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

/// Expand small image datasets with synthetic data, and measure honestly whether it helps.
#[derive(Debug, Parser)]
#[command(name = "synth", version, about, long_about = None)]
pub struct Cli {
    /// Hide progress output: a bar on a terminal; when stderr is not a terminal, a plain line at most every 30 s
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Print the final summary as one JSON object on stdout, for scripts
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classic augmentation (flip, rotation, scale, crop, translation, noise) of the train split, written as an
    /// expanded dataset: the baseline every synthetic source must beat
    Augment(AugmentArgs),
    /// List the bundled datasets, or inspect a dataset (class counts, image size, sources in its manifest)
    Datasets(DatasetsArgs),
    /// Class-conditional DCGAN: learn the train split and write new labelled images as an expanded dataset, with
    /// CAS and FID. `synth gan [flags]` trains (same as `synth gan train`); `synth gan sample` and
    /// `synth gan interpolate` use a trained run
    Gan(Box<GanCommand>),
    /// Neural style transfer on VGG16 features (Gatys): one image, or a whole dataset's train split (style
    /// augmentation, written as an expanded dataset)
    Style(Box<StyleArgs>),
    /// Train or evaluate the bundled transfer-learning classifier (VGG16 ImageNet backbone or a small CNN)
    #[command(subcommand)]
    Classifier(ClassifierCommand),
    /// Adversarial examples (FGSM, PGD in L-inf or L2, targeted or not) of a split against a classifier, written as
    /// an expanded dataset with clean and adversarial accuracy, success rate and perturbation norms
    Adversarial(Box<AdversarialArgs>),
    /// Measure what each synthetic set adds: fit the bundled classifier on N real images per class alone and with
    /// each set (made by the default pipeline from those N images, or given with --synthetic), over several seeds,
    /// and report clean, robust and shifted accuracy on the real test split with 95% intervals and paired gains
    EvalGain(Box<EvalGainArgs>),
    /// Search the augmentation mix (classic ops, magnitudes, probabilities, amount, synthetic shares) with
    /// reinforcement learning rewarded by validation accuracy, against random search and a RandAugment grid at the
    /// same budget; writes the best policy as best.toml
    Policy(Box<PolicyArgs>),
}

/// `synth classifier ...`.
#[derive(Debug, Subcommand)]
pub enum ClassifierCommand {
    /// Fit on the train split (plus any --extra expanded datasets), early-stop on val, report test accuracy, save
    Train(Box<ClassifierTrainArgs>),
    /// Accuracy, per-class accuracy and a confusion-matrix PNG of a saved classifier on a split of a dataset
    Eval(ClassifierEvalArgs),
}

/// `synth classifier train`.
#[derive(Debug, Args)]
pub struct ClassifierTrainArgs {
    /// TOML config with any of the settings of configs/classifier.toml; flags override it
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Expanded datasets (made from the same dataset's train split) added to the training images; repeatable
    #[arg(long)]
    pub extra: Vec<PathBuf>,
    /// Training images per class drawn from the train split, 0 for all [default: 0]
    #[arg(long)]
    pub per_class: Option<usize>,
    /// Backbone: vgg16 (bundled ImageNet weights, transfer), vgg19 or resnet50 (transfer from your torchvision
    /// weight file, --backbone-weights), or cnn (small, from scratch) [default: vgg16]
    #[arg(long, value_enum)]
    pub backbone: Option<synth::classifier::BackboneKind>,
    /// Backbone weights in torchvision layout, .pth state dict or .safetensors (vgg16/vgg19: features.N.*;
    /// resnet50: conv1, bn1, layerK.M.*). Required for vgg19 and resnet50, which synth neither bundles nor
    /// downloads (torchvision's files: download.pytorch.org/models/vgg19-dcbb9e9d.pth, resnet50-0676ba61.pth)
    /// [default: vgg16 uses the bundled models/vgg16_features_f16.safetensors]
    #[arg(long)]
    pub backbone_weights: Option<PathBuf>,
    /// Side inputs of a pretrained backbone (vgg16, vgg19, resnet50) are resized to, 32..=2048 [default: 64]
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Pretrained backbone blocks never trained, 0..=5 (VGG: conv blocks; resnet50: stem, layer1..4); their
    /// features are computed once and cached [default: 4]
    #[arg(long)]
    pub freeze_blocks: Option<usize>,
    /// Top pretrained backbone blocks fine-tuned in phase 2, 0..=5 [default: 1]
    #[arg(long)]
    pub finetune_blocks: Option<usize>,
    /// Of those blocks, only the last N layers train in phase 2 (VGG: convs; resnet50: bottlenecks); the earlier
    /// ones stay frozen and cached, which makes fine-tuning cheaper; 0 trains them all [default: 0]
    #[arg(long)]
    pub finetune_layers: Option<usize>,
    /// Maximum epochs of phase 1 (the head; the whole cnn) [default: 20]
    #[arg(long)]
    pub head_epochs: Option<usize>,
    /// Maximum epochs of phase 2 (fine-tuning; 0 skips it) [default: 10]
    #[arg(long)]
    pub finetune_epochs: Option<usize>,
    /// Phase 1 learning rate (Adam) of a pretrained backbone's head [default: 0.001]
    #[arg(long, allow_negative_numbers = true)]
    pub head_lr: Option<f64>,
    /// Learning rate (Adam) of the cnn, trained whole from scratch in one phase [default: 0.001]
    #[arg(long, allow_negative_numbers = true)]
    pub cnn_lr: Option<f64>,
    /// Hidden units of the cnn head, 1..=4096 [default: 256]
    #[arg(long)]
    pub cnn_hidden: Option<usize>,
    /// Standardise each image (zero mean, unit standard deviation) before the cnn: true or false [default: false]
    #[arg(long)]
    pub cnn_standardize: Option<bool>,
    /// Phase 2 learning rate (Adam) [default: 0.0001]
    #[arg(long, allow_negative_numbers = true)]
    pub finetune_lr: Option<f64>,
    /// Epochs without a better validation accuracy before a phase stops [default: 3]
    #[arg(long)]
    pub patience: Option<usize>,
    /// Optimiser steps phase 1 runs at least before early stopping may end it (its epochs raised to reach them;
    /// patience is at least a fifth of them): on small data an epoch is a step or two [default: 100]
    #[arg(long)]
    pub min_steps: Option<usize>,
    /// Batch size [default: 64]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed of initialisation, shuffling, dropout and the per-class draw [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Adversarial training: replace part of each batch (--adv-ratio) by adversarial versions crafted against the
    /// current weights: none, fgsm or pgd [default: none]
    #[arg(long, value_enum)]
    pub adversarial: Option<synth::adversarial::TrainingAttack>,
    /// Adversarial training: radius of the perturbation ball in [0, 1] pixel units [default: 0.1]
    #[arg(long, allow_negative_numbers = true)]
    pub eps: Option<f64>,
    /// Adversarial training: PGD step size, 0 for 2.5 * eps / steps [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    /// Adversarial training: PGD steps per batch [default: 10]
    #[arg(long)]
    pub steps: Option<usize>,
    /// Adversarial training: norm of the ball, linf or l2 [default: linf]
    #[arg(long, value_enum)]
    pub norm: Option<synth::adversarial::Norm>,
    /// Adversarial training: share of each batch replaced by adversarial images, in (0, 1] [default: 0.5]
    #[arg(long, allow_negative_numbers = true)]
    pub adv_ratio: Option<f64>,
    /// On-the-fly classic augmentation of every training batch, in `synth augment`'s --ops grammar (e.g.
    /// rotate:15,translate:3); bypasses the frozen-feature cache, so VGG16 fits get several times slower
    /// [default: none]
    #[arg(long)]
    pub augment: Option<String>,
    #[command(flatten)]
    pub output: OutArgs,
}

/// `synth classifier eval`.
#[derive(Debug, Args)]
pub struct ClassifierEvalArgs {
    /// A classifier run folder written by `synth classifier train`
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset to evaluate on [default: the one the model was trained on]
    #[arg(long)]
    pub dataset: Option<String>,
    /// Image size policy when loading the dataset [default: the model's]
    #[arg(long)]
    pub resize: Option<String>,
    /// Which part of the model's split to evaluate on [default: test]
    #[arg(long, value_enum, default_value_t = synth::dataset::SplitName::Test)]
    pub split: synth::dataset::SplitName,
    /// Also report robust accuracy: the accuracy on adversarial versions of the images made by this attack: fgsm, pgd,
    /// apgd-ce, apgd-t or auto (APGD-CE, then APGD-T on the images left correct: AutoAttack's APGD part, the figure
    /// robustness claims are compared on; use --steps 100 for its budget) [default: none]
    #[arg(long, value_enum)]
    pub attack: Option<synth::adversarial::AttackKind>,
    #[command(flatten)]
    pub attack_args: AttackArgs,
    /// Seed of the attack's random starts and random targets [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
}

/// The settings of one attack (defaults: those of configs/adversarial.toml's [attack] table).
#[derive(Debug, Clone, Args)]
pub struct AttackArgs {
    /// Norm of the perturbation ball: linf (each pixel moves at most eps) or l2 [default: linf]
    #[arg(long, value_enum)]
    pub norm: Option<synth::adversarial::Norm>,
    /// Radius of the perturbation ball in [0, 1] pixel units (at most 1 for linf) [default: 0.3]
    #[arg(long, allow_negative_numbers = true)]
    pub eps: Option<f64>,
    /// PGD step size, 0 for 2.5 * eps / steps (APGD adapts its own) [default: 0.01]
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    /// PGD steps; APGD iterations, per target for apgd-t (AutoAttack runs 100); at most 1000000 [default: 40]
    #[arg(long)]
    pub steps: Option<usize>,
    /// PGD and APGD start from a random point of the ball (`--random-start false` starts from the image)
    /// [default: true]
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub random_start: Option<bool>,
    /// PGD and APGD random restarts; each image keeps its strongest result [default: 1]
    #[arg(long)]
    pub restarts: Option<usize>,
    /// Targeted attack (fgsm and pgd): a class index, `random` (a seeded wrong class per image) or `none`
    /// [default: none]
    #[arg(long)]
    pub target: Option<synth::adversarial::Target>,
}

impl AttackArgs {
    /// Applies the flags given over `config`.
    pub fn apply(&self, config: &mut synth::adversarial::AttackConfig) {
        set(&mut config.norm, &self.norm);
        set(&mut config.eps, &self.eps);
        set(&mut config.alpha, &self.alpha);
        set(&mut config.steps, &self.steps);
        set(&mut config.random_start, &self.random_start);
        set(&mut config.restarts, &self.restarts);
        set(&mut config.target, &self.target);
    }
}

/// `synth adversarial`.
#[derive(Debug, Args)]
pub struct AdversarialArgs {
    /// TOML config with any of the settings of configs/adversarial.toml; flags override it
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// A classifier run folder written by `synth classifier train`; its dataset, size policy and split are used
    /// (so --split test never holds its training images) [default: none: train the default classifier on the train
    /// split first]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Backbone of the classifier trained when --model is not given (cnn: two conv layers, fast to train and to
    /// attack; vgg16: thirteen; for vgg19 or resnet50 train with `synth classifier train --backbone-weights` and
    /// pass --model) [default: cnn]
    #[arg(long, value_enum)]
    pub backbone: Option<synth::classifier::BackboneKind>,
    /// Which part of the split to attack; sets made from test (or val) images are marked so in origin.json and are
    /// refused as training data [default: train]
    #[arg(long, value_enum)]
    pub split: Option<synth::dataset::SplitName>,
    /// Attack: fgsm (one step of eps), pgd (projected gradient descent), apgd-ce (Auto-PGD on the cross-entropy:
    /// no step size to tune), apgd-t (Auto-PGD on the targeted DLR loss toward the 9 most likely wrong classes) or
    /// auto (apgd-ce, then apgd-t on the images left correct; AutoAttack without FAB-T and Square) [default: pgd]
    #[arg(long, value_enum)]
    pub attack: Option<synth::adversarial::AttackKind>,
    #[command(flatten)]
    pub attack_args: AttackArgs,
    /// Images attacked, drawn with --seed from the split part, 0 for all [default: 0]
    #[arg(long)]
    pub limit: Option<usize>,
    /// Images attacked together [default: 256]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed of random starts, random targets, the --limit draw and the default classifier [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub output: OutArgs,
}

/// Which real data to read and how to split it (shared by every command that reads a dataset).
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Dataset: a bundled name (mnist, digits) or a path to an ImageFolder tree, an expanded dataset, an IDX images
    /// file (*idx3-ubyte[.gz], labels found beside it), a CSV of pixels+label, or CIFAR-10 .bin batches
    /// [default: mnist]
    #[arg(long)]
    pub dataset: Option<String>,
    /// Image size policy: keep (refuse mixed sizes), N (square) or WxH, each side at most 2048 [default: keep]
    #[arg(long)]
    pub resize: Option<String>,
    /// Fraction of each class held out for validation [default: 0.15]
    #[arg(long, allow_negative_numbers = true)]
    pub val: Option<f64>,
    /// Fraction of each class held out for test [default: 0.15]
    #[arg(long, allow_negative_numbers = true)]
    pub test: Option<f64>,
    /// Seed of the stratified train/val/test split [default: 0]
    #[arg(long)]
    pub split_seed: Option<u64>,
}

/// Where a run writes.
#[derive(Debug, Clone, Args)]
pub struct OutArgs {
    /// Output folder; it must not exist or be empty, unless --force [default: outputs/<command>/<dataset>-seed<seed>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace a non-empty --out (only once the new run has succeeded)
    #[arg(long)]
    pub force: bool,
    /// TensorBoard log folder [default: outputs/tb/<command>/<name of --out>]
    #[arg(long)]
    pub tb_dir: Option<PathBuf>,
}

/// The `--out` help of a command whose default folder is `outputs/<command>/<name>`: eval-gain and policy show
/// their config's `OUT_NAME`, the same template their code fills in (a test compares the two).
pub fn out_help(command: &str, name: &str) -> String {
    format!(
        "Output folder; it must not exist or be empty, unless --force replaces it (so a second run with the same \
         settings needs --force or another --out) [default: outputs/{command}/{name}]"
    )
}

impl OutArgs {
    /// The output folder, or `outputs/<command>/<default_name>`.
    pub fn out_dir(&self, command: &str, default_name: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| crate::commands::default_out(command, default_name))
    }

    /// The TensorBoard folder for a run writing to `out`.
    pub fn tb_dir(&self, command: &str, out: &Path) -> PathBuf {
        self.tb_dir
            .clone()
            .unwrap_or_else(|| crate::commands::default_tb_dir(command, out))
    }
}

/// `synth augment`.
#[derive(Debug, Args)]
pub struct AugmentArgs {
    /// TOML config with any of the settings of configs/augment.toml; flags override it
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Comma-separated ops, applied in order: flip-h, flip-v, rot90, rotate:DEG[:reflect|constant], scale:FRAC,
    /// crop:MINFRAC, translate:PX, noise:STD; append @P to apply an op with probability P (flips default to @0.5)
    /// [default: rotate:15,translate:3,scale:0.1,noise:0.05]
    #[arg(long)]
    pub ops: Option<String>,
    /// Augmented copies per training image, 1..=1000 [default: 4]
    #[arg(long)]
    pub copies: Option<usize>,
    /// Seed of the augmentation draws; the same seed writes the same bytes [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// A policy found by `synth policy` (best.toml): each copy applies one of its sub-policies, drawn at random;
    /// replaces --ops (the policy's synthetic shares are for eval-gain and are not used here) [default: none]
    #[arg(long, conflicts_with = "ops")]
    pub policy: Option<PathBuf>,
    /// A named policy instead of --ops: trivial (TrivialAugment: each copy applies one op drawn uniformly from
    /// rotate, scale, crop, translate, noise, flip-h, rot90, at one of 10 magnitude levels drawn uniformly, as
    /// `synth policy`'s trivial method does) [default: none]
    #[arg(long, conflicts_with_all = ["ops", "policy"], value_parser = ["trivial"])]
    pub preset: Option<String>,
    #[command(flatten)]
    pub output: OutArgs,
}

/// `synth datasets`.
#[derive(Debug, Args)]
pub struct DatasetsArgs {
    /// A bundled name or a dataset path to inspect; without it, list the bundled datasets
    pub dataset: Option<String>,
    /// Image size policy for inspecting a dataset with mixed sizes: keep, N or WxH [default: keep]
    #[arg(long)]
    pub resize: Option<String>,
}

/// `synth style`.
#[derive(Debug, Args)]
#[command(mut_arg("out", |a| a.help(
    "Output: a .png file (single-image mode) or a folder (dataset mode); replaced only with --force, once the new \
     one is complete [default: outputs/style/<content>-<style>.png or outputs/style/<dataset>-seed<seed>]"
)))]
pub struct StyleArgs {
    /// TOML config with any of the settings of configs/style.toml; flags override it
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Content: an image file (single-image mode) or a dataset, bundled name or path (dataset mode, train split)
    #[arg(long)]
    pub content: String,
    /// Style image, optionally with a blending weight (`styles/starry_night.jpg:0.7`), or a folder of style images;
    /// repeatable. Single-image mode blends all styles' Gram targets by weight; dataset mode draws one style per
    /// image with probabilities proportional to the weights
    #[arg(long, required = true)]
    pub style: Vec<String>,
    #[command(flatten)]
    pub output: OutArgs,
    /// Longest side of the output image (single-image mode), 32..=2048 [default: 256]
    #[arg(long)]
    pub size: Option<usize>,
    /// Loss evaluations (L-BFGS) or steps (Adam) for one image [default: 200]
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Optimiser [default: lbfgs]
    #[arg(long, value_enum)]
    pub optimizer: Option<synth::style::StyleOptimizer>,
    /// Weight of the content loss (relu4_2) [default: 1]
    #[arg(long, allow_negative_numbers = true)]
    pub content_weight: Option<f64>,
    /// Weight of the style loss (Gram matrices of relu1_1..relu5_1) [default: 100]
    #[arg(long, allow_negative_numbers = true)]
    pub style_weight: Option<f64>,
    /// Weight of the total-variation loss [default: 1000]
    #[arg(long, allow_negative_numbers = true)]
    pub tv_weight: Option<f64>,
    /// Single-image mode: where the optimisation starts: the content image, seeded noise, or the content cut out
    /// of a crop of the style image (texture) [default: content]
    #[arg(long, value_enum)]
    pub init: Option<synth::style::StyleInit>,
    /// Optimise at full size only (no half-size first pass)
    #[arg(long)]
    pub no_coarse_to_fine: bool,
    /// Keep the content image's colours (transfer luminance only)
    #[arg(long)]
    pub preserve_color: bool,
    /// Seed of noise init and of the per-image style draw [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Dataset mode: stylised versions per train image [default: 1]
    #[arg(long)]
    pub per_image: Option<usize>,
    /// Dataset mode: train images to stylise, 0 for all [default: 0]
    #[arg(long)]
    pub max_images: Option<usize>,
    /// Dataset mode: lowest style strength, in [0, 1]: each image is content + strength * (stylised - content),
    /// its strength drawn uniformly from [--strength-min, --strength-max] [default: 0.2]
    #[arg(long, allow_negative_numbers = true)]
    pub strength_min: Option<f64>,
    /// Dataset mode: highest style strength, in [0, 1] [default: 0.5]
    #[arg(long, allow_negative_numbers = true)]
    pub strength_max: Option<f64>,
    /// Dataset mode: write grey images in the stylised colours (RGB) instead of grey [default: off]
    #[arg(long)]
    pub colour: bool,
    /// Dataset mode: a classifier run folder (`synth classifier train` on the same dataset) that judges the set:
    /// the share of stylised images it still labels correctly is printed and kept in origin.json [default: none]
    #[arg(long)]
    pub judge: Option<PathBuf>,
    /// Dataset mode: side images are stylised at, 32..=2048 [default: 32]
    #[arg(long)]
    pub dataset_size: Option<usize>,
    /// Dataset mode: images optimised together [default: 50]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Dataset mode: optimiser steps per batch [default: 20]
    #[arg(long)]
    pub dataset_iterations: Option<usize>,
    /// Dataset mode: where each image's optimisation starts: texture (the image cut out of a crop of its style,
    /// so its background carries the texture), the content image, or seeded noise [default: texture]
    #[arg(long, value_enum)]
    pub dataset_init: Option<synth::style::StyleInit>,
    /// Dataset mode: image size policy when loading: keep, N or WxH [default: keep]
    #[arg(long)]
    pub resize: Option<String>,
}

/// `synth gan [train flags]` or `synth gan <train|sample|interpolate> [flags]`: a bare `synth gan` trains, so the
/// common case needs no subcommand, and the training flags conflict with naming a subcommand.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_precedence_over_arg = true)]
pub struct GanCommand {
    #[command(subcommand)]
    pub action: Option<GanAction>,
    #[command(flatten)]
    pub train: GanTrainArgs,
}

/// The `synth gan` subcommands.
#[derive(Debug, Subcommand)]
pub enum GanAction {
    /// Train on the train split, then write --per-class images per class and measure CAS and FID (the default)
    Train(Box<GanTrainArgs>),
    /// Write --per-class images per class from a trained run's generator (EMA weights), without training
    Sample(GanSampleArgs),
    /// Write a latent interpolation grid PNG: one row per class, the same two latents joined in every row
    Interpolate(GanInterpolateArgs),
}

/// `synth gan train` (and bare `synth gan`).
#[derive(Debug, Clone, Args)]
#[command(mut_arg("out", |a| a.help(
    "Run folder (checkpoint/, samples/, grids/, metrics.json); it must not exist or be empty, unless --force (the new \
     run trains beside the old one and replaces it only on success) or --resume \
     [default: outputs/gan/<dataset>-seed<seed>]"
)))]
pub struct GanTrainArgs {
    /// TOML config with any of the settings of configs/gan.toml; flags override it
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Continue the run in --out from its checkpoint (its saved config; only --epochs and the sampling and metric
    /// flags may change) [default: false]
    #[arg(long)]
    pub resume: bool,
    /// Training images per class drawn from the train split, 0 for all [default: 0]
    #[arg(long)]
    pub train_per_class: Option<usize>,
    /// Passes over the training images (raised to reach --min-steps), at most 1000000 [default: 60]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train at least this many steps, so small datasets get more epochs [default: 2000]
    #[arg(long)]
    pub min_steps: Option<usize>,
    /// Batch size [default: 64]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adversarial loss: bce (non-saturating) or hinge [default: bce]
    #[arg(long, value_enum)]
    pub loss: Option<synth::gan::GanLoss>,
    /// DiffAugment on real and fake images before the discriminator: auto (on below 1000 training images), on,
    /// off; off by measurement (at 20 per class it cost 15 points of validation CAS) [default: off]
    #[arg(long, value_enum)]
    pub diffaugment: Option<synth::gan::DiffAugmentMode>,
    /// Sample from an exponential moving average of the generator's weights [default: true]
    #[arg(long)]
    pub ema: Option<bool>,
    /// Classic augmentation of the real images only (never the generated ones), a fresh draw per batch, in the
    /// `synth augment --ops` grammar (e.g. rotate:15,translate:3,scale:0.1), or `none`; applied below 1000 training
    /// images; chosen by measurement at 20 per class (eval-gain's gan only on the validation split, README "GAN
    /// sweep") [default: rotate:10@0.5,translate:2@0.5,scale:0.1@0.5]
    #[arg(long, value_delimiter = ',')]
    pub real_augment: Option<Vec<String>>,
    /// Images written per class after training, at most 100000 [default: 500]
    #[arg(long)]
    pub per_class: Option<usize>,
    /// Latent truncation: redraw components with |z| above it; 0 for none [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    pub truncation: Option<f64>,
    /// Class-consistency filter: keep images whose class a cnn fitted on the training images gives at least this
    /// probability (drawing up to 10x per class), 0 for none; 0.9 by measurement (validation CAS 78.8% against
    /// 74.5% unfiltered at 20 per class), applied below --filter-below training images [default: 0.9]
    #[arg(long, allow_negative_numbers = true)]
    pub filter_tau: Option<f64>,
    /// The filter applies only to runs with fewer training images than this [default: 1000]
    #[arg(long)]
    pub filter_below: Option<usize>,
    /// Measure CAS and FID at the end [default: true]
    #[arg(long)]
    pub metrics: Option<bool>,
    /// Seed of initialisation, batches, latents, DiffAugment and sampling [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub output: OutArgs,
}

/// `synth gan sample`.
#[derive(Debug, Args)]
pub struct GanSampleArgs {
    /// A run folder written by `synth gan` (or its checkpoint/ folder)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Images per class, 1..=100000 [default: the run's per_class]
    #[arg(long)]
    pub per_class: Option<usize>,
    /// Latent truncation: redraw components with |z| above it; 0 for none [default: the run's truncation]
    #[arg(long, allow_negative_numbers = true)]
    pub truncation: Option<f64>,
    /// Class-consistency filter threshold in [0, 1], 0 for none; given, it applies whatever the training set's size
    /// [default: the run's filter_tau below its filter_below training images, else 0]
    #[arg(long, allow_negative_numbers = true)]
    pub filter_tau: Option<f64>,
    /// Sampling seed; the run's own seed reproduces its samples/ byte for byte [default: the run's seed]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Measure CAS and FID of the new images [default: the run's metrics setting]
    #[arg(long)]
    pub metrics: Option<bool>,
    /// Generator weights: auto (the EMA when the run kept one), ema, or generator (the raw trained weights)
    /// [default: auto]
    #[arg(long, value_enum, default_value_t = synth::gan::train::Weights::Auto, hide_default_value = true)]
    pub weights: synth::gan::train::Weights,
    /// Output expanded dataset; it must not exist or be empty, unless --force [default:
    /// <checkpoint>/samples-seed<seed>-t<truncation>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace a non-empty --out (only once the new set is complete) [default: false]
    #[arg(long)]
    pub force: bool,
}

/// `synth gan interpolate`.
#[derive(Debug, Args)]
pub struct GanInterpolateArgs {
    /// A run folder written by `synth gan` (or its checkpoint/ folder)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Images per row, from one latent to the other [default: 10]
    #[arg(long, default_value_t = 10, hide_default_value = true)]
    pub steps: usize,
    /// Generator weights: auto (the EMA when the run kept one), ema, or generator [default: auto]
    #[arg(long, value_enum, default_value_t = synth::gan::train::Weights::Auto, hide_default_value = true)]
    pub weights: synth::gan::train::Weights,
    /// Seed of the two latents [default: the run's seed]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Latent truncation; 0 for none [default: the run's truncation]
    #[arg(long, allow_negative_numbers = true)]
    pub truncation: Option<f64>,
    /// Output PNG [default: <checkpoint>/interpolate-seed<seed>.png]
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `synth eval-gain`.
#[derive(Debug, Args)]
#[command(mut_arg("out", |a| a.help(out_help("eval-gain", synth::eval::config::OUT_NAME))))]
pub struct EvalGainArgs {
    /// TOML config with any of the settings of configs/eval-gain.toml; flags override it
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Labelled real images per class, drawn from the train split with --subset-seed [default: 20]. A comma list
    /// (5,10,20,50) runs the data-efficiency curve: the whole experiment at each size in turn (same seeds,
    /// generators retrained per size), with curve.png and curve.md beside the per-size reports
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub per_class: Option<Vec<usize>>,
    /// Seed of that draw (eval-gain and policy draw the same images), and of eval-gain's generators [default: 0]
    #[arg(long)]
    pub subset_seed: Option<u64>,
    /// Training seeds per condition (0..K), 1..=1000; gains are paired by seed [default: 12]
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Expanded datasets to evaluate (made from the same dataset's train split; the leakage guard refuses any
    /// other); repeatable. A set is named by the source in its origin.json (gan, style, ...; gan-2 for a second
    /// gan set); NAME=DIR names it yourself. Without it, the default pipeline makes the --sources sets from the
    /// N-per-class subset
    #[arg(long, value_name = "[NAME=]DIR")]
    pub synthetic: Vec<synth::dataset::expanded::SetSpec>,
    /// Sources the default pipeline makes when no --synthetic is given (augment is always made: it is the
    /// baseline) [default: augment,gan,style,adversarial]
    #[arg(long, value_delimiter = ',')]
    pub sources: Option<Vec<String>>,
    /// Synthetic images added per real training image [default: 1]
    #[arg(long, allow_negative_numbers = true)]
    pub mix: Option<f64>,
    /// What real + all adds: equal (--mix images per real image in all, shared equally between the sets) or each
    /// (every set's own draw, the images of its real + X) [default: each]
    #[arg(long, value_enum)]
    pub all_share: Option<synth::eval::config::AllShare>,
    /// The least share of each training batch taken from the real images, in [0, 1], where the synthetic images
    /// outnumber them that much (real + all, real + augment + X); 0 draws batches from all images alike
    /// [default: 0.5]
    #[arg(long)]
    pub real_share: Option<f64>,
    /// Also fit each set alone, without real images (its classification accuracy score; four more fits per seed) [default: false]
    #[arg(long)]
    pub synthetic_only: Option<bool>,
    /// Jobs run side by side, the cores shared between them (0 = one per core): the fits, and the GAN beside
    /// everything that does not need its set. The numbers are the same for any value; only the wall time changes
    /// [default: 0]
    #[arg(long)]
    pub jobs: Option<usize>,
    /// For epoch-based fits ([classifier] steps = finetune_steps = 0): give every fit the epoch budget of the run's
    /// largest training set scaled to its own size (the same gradient steps before early stopping). The default
    /// fixed step budgets (120 + 60) already give every fit the same steps [default: false]
    #[arg(long)]
    pub equal_steps: Option<bool>,
    /// L-inf radius of the PGD that makes the default adversarial source (the subset's images with their true
    /// labels, attacked through the cnn fitted on the subset) [default: 0.2]
    #[arg(long)]
    pub adversarial_eps: Option<f64>,
    /// PGD steps of that attack (step size alpha from configs/eval-gain.toml) [default: 40]
    #[arg(long)]
    pub adversarial_steps: Option<usize>,
    /// Where accuracies are measured: test (the verdict) or val (the validation images that do not early-stop the
    /// fits, for sweeps that choose defaults; takes --shift none or --shift mnist-m, then blended from those
    /// validation images) [default: test]
    #[arg(long, value_enum)]
    pub score_split: Option<synth::eval::config::ScoreSplit>,
    /// With --score-split test, also count the train split's images outside the subset (seen by no source and no
    /// fit) in the clean accuracy: more held-out images, so a gain depends less on which few images the test split
    /// drew; mnist-m blends them too (robust accuracy and other shifts stay on the test split) [default: true]
    #[arg(long)]
    pub unused_train: Option<bool>,
    /// Robust accuracy: transfer (PGD crafted once against a surrogate cnn fitted on the subset, every model scored
    /// on those images) or white-box (against each model; minutes per VGG16 model on a CPU) [default: transfer]
    #[arg(long, value_enum)]
    pub robust_mode: Option<synth::eval::config::RobustMode>,
    /// Attack of the robust accuracy: pgd (PGD-10 with a random start), apgd-ce, apgd-t or auto (APGD-CE, then
    /// APGD-T on the images left correct: the AutoAttack-style figure; it runs the [robust_attack] steps, 10 by
    /// default, and costs several times PGD's) [default: pgd]
    #[arg(long, value_enum)]
    pub robust_attack: Option<synth::adversarial::AttackKind>,
    /// L-inf radius of the robust accuracy's attack, in [0, 1]; 0 skips it [default: 0.1]
    #[arg(long, allow_negative_numbers = true)]
    pub eps: Option<f64>,
    /// Test images the robust accuracy is measured on, evenly spread over the test split, 0 for all [default: 0]
    #[arg(long)]
    pub robust_images: Option<usize>,
    /// Test domains of the shifted accuracy, comma-separated, each its own column: mnist-m (the real test split
    /// blended with patches of the bundled photographs, MNIST-M style) or a second real dataset with the same
    /// classes (bundled name or path); "none" to skip [default: digits,mnist-m]
    #[arg(long, value_delimiter = ',', value_name = "SHIFT,...")]
    pub shift: Option<Vec<String>>,
    /// Classifier backbone fitted in every condition: vgg16, cnn, or vgg19/resnet50 with `backbone_weights` set in
    /// the --config file's [classifier] table [default: vgg16]
    #[arg(long, value_enum)]
    pub backbone: Option<synth::classifier::BackboneKind>,
    /// Side VGG16 inputs are resized to, 32..=2048 [default: 64]
    #[arg(long)]
    pub input_size: Option<usize>,
    /// A policy found by `synth policy` (best.toml), added as the condition `real + policy`: --mix images per real
    /// one (the count of `real + augment`) split between its augmented images and its synthetic sets' shares in the
    /// policy's own proportions [default: none]
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Folder the default pipeline caches its sets in [default: outputs/eval-gain/cache]
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutArgs,
}

/// `synth policy`.
#[derive(Debug, Args)]
#[command(mut_arg("out", |a| a.help(out_help("policy", synth::policy::config::OUT_NAME))))]
pub struct PolicyArgs {
    /// TOML config with any of the settings of configs/policy.toml; flags override it
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub low_data: LowDataArgs,
    /// Child fits per search method, shared equally by the search seeds [default: 60]
    #[arg(long)]
    pub budget: Option<usize>,
    /// Repetitions of each search with seeds 0..K [default: 3]
    #[arg(long)]
    pub search_seeds: Option<usize>,
    /// Wall-clock cap of the whole run in minutes (finite, >= 0), shared equally by the searches; 0 for none
    /// [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    pub minutes: Option<f64>,
    /// Search methods to compare: rl, random, grid, trivial (TrivialAugment, no parameters: each child fit a fresh
    /// draw) [default: rl,random,grid,trivial]
    #[arg(long, value_delimiter = ',')]
    pub methods: Option<Vec<String>>,
    /// Optimiser steps of every child fit (batch 64), whatever the policy's amount of data; 0 for the epoch schedule
    /// with early stopping ([child] head_epochs, patience) [default: 60]
    #[arg(long)]
    pub child_steps: Option<usize>,
    /// Without --synthetic: the sets of eval-gain's default pipeline whose shares the space includes, made for the
    /// same subset or found in eval-gain's cache (outputs/eval-gain/cache); `none` for classic ops only
    /// [default: gan,style,adversarial]
    #[arg(long, value_delimiter = ',')]
    pub sources: Option<Vec<String>>,
    /// Folder eval-gain's default pipeline caches its sets in (eval-gain's --cache-dir) [default:
    /// outputs/eval-gain/cache]
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Expanded datasets (from the same dataset's train split) whose share the policy also searches, instead of the
    /// default pipeline's (--sources); repeatable. Named like eval-gain's: by the source in origin.json (gan, gan-2,
    /// ...), or NAME=DIR
    #[arg(long, value_name = "[NAME=]DIR")]
    pub synthetic: Vec<synth::dataset::expanded::SetSpec>,
    #[command(flatten)]
    pub output: OutArgs,
}

/// The low-data setting eval-gain and policy share: which real images the user is taken to have.
#[derive(Debug, Clone, Args)]
pub struct LowDataArgs {
    /// Labelled real images per class, drawn from the train split with --subset-seed [default: 20]
    #[arg(long)]
    pub per_class: Option<usize>,
    /// Seed of that draw (eval-gain and policy draw the same images), and of eval-gain's generators [default: 0]
    #[arg(long)]
    pub subset_seed: Option<u64>,
}

impl LowDataArgs {
    /// Applies the flags given over a config's values.
    pub fn apply(&self, per_class: &mut usize, subset_seed: &mut u64) {
        set(per_class, &self.per_class);
        set(subset_seed, &self.subset_seed);
    }
}

/// Sets `dst` to the flag's value when the flag was given: the one rule by which every flag overrides the config.
fn set<T: Clone>(dst: &mut T, flag: &Option<T>) {
    if let Some(v) = flag {
        *dst = v.clone();
    }
}

/// Sets an optional setting when its flag was given.
fn set_some<T: Clone>(dst: &mut Option<T>, flag: &Option<T>) {
    if flag.is_some() {
        dst.clone_from(flag);
    }
}

impl DataArgs {
    /// Applies the data flags over a config's dataset, resize and split settings.
    pub fn apply(&self, dataset: &mut String, resize: &mut String, split: &mut synth::dataset::SplitConfig) {
        set(dataset, &self.dataset);
        set(resize, &self.resize);
        set(&mut split.val, &self.val);
        set(&mut split.test, &self.test);
        set(&mut split.seed, &self.split_seed);
    }
}

impl ClassifierTrainArgs {
    /// Applies the flags given over `c`.
    pub fn apply(&self, c: &mut synth::classifier::ClassifierConfig) {
        self.data.apply(&mut c.dataset, &mut c.resize, &mut c.split);
        set(&mut c.per_class, &self.per_class);
        set(&mut c.backbone, &self.backbone);
        set_some(
            &mut c.backbone_weights,
            &self.backbone_weights.as_ref().map(|w| w.display().to_string()),
        );
        set(&mut c.input_size, &self.input_size);
        set(&mut c.freeze_blocks, &self.freeze_blocks);
        set(&mut c.finetune_blocks, &self.finetune_blocks);
        set(&mut c.finetune_layers, &self.finetune_layers);
        set(&mut c.head_epochs, &self.head_epochs);
        set(&mut c.finetune_epochs, &self.finetune_epochs);
        set(&mut c.head_lr, &self.head_lr);
        set(&mut c.cnn_lr, &self.cnn_lr);
        set(&mut c.cnn_hidden, &self.cnn_hidden);
        set(&mut c.cnn_standardize, &self.cnn_standardize);
        set(&mut c.finetune_lr, &self.finetune_lr);
        set(&mut c.patience, &self.patience);
        set(&mut c.min_steps, &self.min_steps);
        set(&mut c.batch_size, &self.batch_size);
        set(&mut c.seed, &self.seed);
        let adv = &mut c.adversarial;
        set(&mut adv.attack, &self.adversarial);
        set(&mut adv.eps, &self.eps);
        set(&mut adv.alpha, &self.alpha);
        set(&mut adv.steps, &self.steps);
        set(&mut adv.norm, &self.norm);
        set(&mut adv.ratio, &self.adv_ratio);
        if let Some(ops) = &self.augment {
            c.augment = ops
                .split(',')
                .map(|op| op.trim().to_string())
                .filter(|op| !op.is_empty())
                .collect();
        }
    }
}

impl AdversarialArgs {
    /// Applies the flags given over `c`. The split flags are refused with --model: the model's own split is used,
    /// so its test images stay unseen.
    pub fn apply(&self, c: &mut synth::adversarial::AdversarialConfig) -> Result<(), synth::SynthError> {
        set_some(&mut c.model, &self.model.as_ref().map(|m| m.display().to_string()));
        let split_flags = self.data.val.is_some() || self.data.test.is_some() || self.data.split_seed.is_some();
        if c.model.is_some() && split_flags {
            return Err(synth::SynthError::bad_input(
                "--val, --test and --split-seed cannot be combined with --model: the model's own split is used, so \
                 its test images stay unseen",
            ));
        }
        set_some(&mut c.dataset, &self.data.dataset);
        set_some(&mut c.resize, &self.data.resize);
        set(&mut c.split.val, &self.data.val);
        set(&mut c.split.test, &self.data.test);
        set(&mut c.split.seed, &self.data.split_seed);
        set(&mut c.backbone, &self.backbone);
        set(&mut c.source_split, &self.split);
        set(&mut c.attack.attack, &self.attack);
        self.attack_args.apply(&mut c.attack);
        set(&mut c.limit, &self.limit);
        set(&mut c.batch_size, &self.batch_size);
        set(&mut c.seed, &self.seed);
        Ok(())
    }
}

impl AugmentArgs {
    /// Applies the flags given over `c`.
    pub fn apply(&self, c: &mut synth::augment::AugmentConfig) {
        self.data.apply(&mut c.dataset, &mut c.resize, &mut c.split);
        set(&mut c.ops, &self.ops.clone().map(|ops| vec![ops]));
        set(&mut c.copies, &self.copies);
        set(&mut c.seed, &self.seed);
        set(&mut c.policy, &self.policy.as_ref().map(|p| p.display().to_string()));
        set(&mut c.preset, &self.preset);
    }
}

impl StyleArgs {
    /// Applies the flags given over `c` (the content is applied by the command: it decides the mode).
    pub fn apply(&self, c: &mut synth::style::StyleConfig) {
        set(&mut c.size, &self.size);
        set(&mut c.iterations, &self.iterations);
        set(&mut c.optimizer, &self.optimizer);
        set(&mut c.content_weight, &self.content_weight);
        set(&mut c.style_weight, &self.style_weight);
        set(&mut c.tv_weight, &self.tv_weight);
        set(&mut c.init, &self.init);
        set(&mut c.seed, &self.seed);
        set(&mut c.per_image, &self.per_image);
        set(&mut c.max_images, &self.max_images);
        set(&mut c.strength_min, &self.strength_min);
        set(&mut c.strength_max, &self.strength_max);
        set_some(&mut c.judge, &self.judge.as_ref().map(|j| j.display().to_string()));
        set(&mut c.dataset_size, &self.dataset_size);
        set(&mut c.batch_size, &self.batch_size);
        set(&mut c.dataset_iterations, &self.dataset_iterations);
        set(&mut c.dataset_init, &self.dataset_init);
        set(&mut c.resize, &self.resize);
        if self.no_coarse_to_fine {
            c.coarse_to_fine = false;
        }
        if self.preserve_color {
            c.preserve_color = true;
        }
        if self.colour {
            c.colour = true;
        }
    }
}

impl GanTrainArgs {
    /// Applies the flags given over `c`.
    pub fn apply(&self, c: &mut synth::gan::GanConfig) {
        self.data.apply(&mut c.dataset, &mut c.resize, &mut c.split);
        set(&mut c.train_per_class, &self.train_per_class);
        set(&mut c.epochs, &self.epochs);
        set(&mut c.min_steps, &self.min_steps);
        set(&mut c.batch_size, &self.batch_size);
        set(&mut c.loss, &self.loss);
        set(&mut c.diffaugment, &self.diffaugment);
        set(&mut c.ema, &self.ema);
        if let Some(ops) = &self.real_augment {
            c.real_augment = if ops.iter().all(|o| o.trim() == "none") {
                Vec::new()
            } else {
                ops.clone()
            };
        }
        set(&mut c.per_class, &self.per_class);
        set(&mut c.truncation, &self.truncation);
        set(&mut c.filter_tau, &self.filter_tau);
        set(&mut c.filter_below, &self.filter_below);
        set(&mut c.metrics, &self.metrics);
        set(&mut c.seed, &self.seed);
    }
}

impl EvalGainArgs {
    /// Applies the flags given over `c`.
    pub fn apply(&self, c: &mut synth::eval::EvalGainConfig) {
        self.data.apply(&mut c.dataset, &mut c.resize, &mut c.split);
        match self.per_class.as_deref() {
            Some([one]) => {
                c.per_class = *one;
                c.curve.clear();
            }
            Some(sizes) if !sizes.is_empty() => c.curve = sizes.to_vec(),
            _ => {}
        }
        set(&mut c.subset_seed, &self.subset_seed);
        set(&mut c.seeds, &self.seeds);
        set(&mut c.sources, &self.sources);
        set(&mut c.mix, &self.mix);
        set(&mut c.all_share, &self.all_share);
        set(&mut c.classifier.real_share, &self.real_share);
        set(&mut c.synthetic_only, &self.synthetic_only);
        set(&mut c.jobs, &self.jobs);
        set(&mut c.equal_steps, &self.equal_steps);
        set(&mut c.adversarial_attack.eps, &self.adversarial_eps);
        set(&mut c.adversarial_attack.steps, &self.adversarial_steps);
        set(&mut c.score_split, &self.score_split);
        set(&mut c.unused_train, &self.unused_train);
        set(&mut c.robust_mode, &self.robust_mode);
        set(&mut c.robust_attack.attack, &self.robust_attack);
        set(&mut c.robust_attack.eps, &self.eps);
        set(&mut c.robust_images, &self.robust_images);
        if let Some(v) = &self.shift {
            c.shifts = synth::eval::config::shift_names(v);
        }
        set(&mut c.classifier.backbone, &self.backbone);
        set(&mut c.classifier.input_size, &self.input_size);
        set(
            &mut c.cache_dir,
            &self.cache_dir.as_ref().map(|d| d.display().to_string()),
        );
    }
}

impl PolicyArgs {
    /// Applies the flags given over `c`.
    pub fn apply(&self, c: &mut synth::policy::PolicyConfig) {
        self.data.apply(&mut c.dataset, &mut c.resize, &mut c.split);
        self.low_data.apply(&mut c.per_class, &mut c.subset_seed);
        set(&mut c.budget, &self.budget);
        set(&mut c.search_seeds, &self.search_seeds);
        set(&mut c.minutes, &self.minutes);
        set(&mut c.methods, &self.methods);
        set(&mut c.child.steps, &self.child_steps);
        if let Some(sources) = &self.sources {
            c.sources = sources.iter().filter(|s| s.as_str() != "none").cloned().collect();
        }
        set(
            &mut c.cache_dir,
            &self.cache_dir.as_ref().map(|d| d.display().to_string()),
        );
    }
}
