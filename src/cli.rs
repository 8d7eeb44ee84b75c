//! Command-line definitions (clap). Every flag is defined once, with its help and its default; the defaults shown
//! are those of configs/<command>.toml, which a `--config` file or the flag itself overrides.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

/// Expand small image datasets with synthetic data, and measure honestly whether it helps.
#[derive(Debug, Parser)]
#[command(name = "synth", version, about, long_about = None)]
pub struct Cli {
    /// Hide progress bars (they are also hidden when stderr is not a terminal)
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
    /// Train or evaluate the bundled transfer-learning classifier (VGG16 ImageNet backbone or a small CNN)
    #[command(subcommand)]
    Classifier(ClassifierCommand),
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
    /// Backbone: vgg16 (ImageNet weights, transfer) or cnn (small, from scratch) [default: vgg16]
    #[arg(long, value_enum)]
    pub backbone: Option<crate::classifier::BackboneKind>,
    /// VGG16 weights in torchvision layout (.safetensors or .pth, keys features.N.weight) [default: the bundled
    /// models/vgg16_features_f16.safetensors]
    #[arg(long)]
    pub backbone_weights: Option<PathBuf>,
    /// Side VGG16 inputs are resized to [default: 32]
    #[arg(long)]
    pub input_size: Option<usize>,
    /// VGG16 blocks never trained; their features are computed once and cached [default: 4]
    #[arg(long)]
    pub freeze_blocks: Option<usize>,
    /// Top VGG16 blocks fine-tuned in phase 2 [default: 1]
    #[arg(long)]
    pub finetune_blocks: Option<usize>,
    /// Maximum epochs of phase 1 (the head; the whole cnn) [default: 20]
    #[arg(long)]
    pub head_epochs: Option<usize>,
    /// Maximum epochs of phase 2 (fine-tuning; 0 skips it) [default: 10]
    #[arg(long)]
    pub finetune_epochs: Option<usize>,
    /// Phase 1 learning rate (Adam) [default: 0.001]
    #[arg(long)]
    pub head_lr: Option<f64>,
    /// Phase 2 learning rate (Adam) [default: 0.0001]
    #[arg(long)]
    pub finetune_lr: Option<f64>,
    /// Epochs without a better validation accuracy before a phase stops [default: 3]
    #[arg(long)]
    pub patience: Option<usize>,
    /// Batch size [default: 64]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed of initialisation, shuffling, dropout and the per-class draw [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
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
    #[arg(long, value_enum, default_value_t = crate::dataset::SplitName::Test)]
    pub split: crate::dataset::SplitName,
}

/// Which real data to read and how to split it (shared by every command that reads a dataset).
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Dataset: a bundled name (mnist, digits) or a path to an ImageFolder tree, an expanded dataset, an IDX images
    /// file (*idx3-ubyte[.gz], labels found beside it), a CSV of pixels+label, or CIFAR-10 .bin batches
    /// [default: mnist]
    #[arg(long)]
    pub dataset: Option<String>,
    /// Image size policy: keep (refuse mixed sizes), N (square) or WxH [default: keep]
    #[arg(long)]
    pub resize: Option<String>,
    /// Fraction of each class held out for validation [default: 0.15]
    #[arg(long)]
    pub val: Option<f64>,
    /// Fraction of each class held out for test [default: 0.15]
    #[arg(long)]
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

impl OutArgs {
    /// The output folder, or `outputs/<command>/<default_name>`.
    pub fn out_dir(&self, command: &str, default_name: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| Path::new("outputs").join(command).join(default_name))
    }

    /// The TensorBoard folder for a run writing to `out`.
    pub fn tb_dir(&self, command: &str, out: &Path) -> PathBuf {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "run".into());
        self.tb_dir
            .clone()
            .unwrap_or_else(|| Path::new("outputs").join("tb").join(command).join(name))
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
    /// Augmented copies per training image [default: 4]
    #[arg(long)]
    pub copies: Option<usize>,
    /// Seed of the augmentation draws; the same seed writes the same bytes [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
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
