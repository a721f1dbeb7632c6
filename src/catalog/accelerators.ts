/**
 * The accelerator catalog: 21 chips, one entry per row of
 * ../shared/reference/accelerators.csv (relative to the repository root), from
 * which the data are transcribed.
 *
 * - Every figure is dense (no sparsity) and per chip.
 * - Every estimate is labelled: `powerBasis: 'estimate'` (or `'rack-share'` for a
 *   derived rack division) carries its reasoning in `powerNote`, and any other
 *   estimated figure is named in `caveats`.
 * - HBM capacity is decimal GB: figures the CSV gives in GiB are multiplied by
 *   1.073741824; where the CSV gives a usable and a marketed figure, the usable one is used.
 *   TPU v5e, v5p and v6e are GiB too, though the CSV (as Google's docs, "32 GB") says no unit:
 *   jax's tpu_info.py gives their bytes (17.2e9, 103e9, 34.4e9), as for v4's 32 GiB.
 * - Prices are indicative (list or capacity-block prices on one date). A fleet
 *   file overrides any value here, price, power and efficiency included.
 */
import type { AcceleratorSpec, EfficiencyFactors } from './accelerator.js';

/*
 * Efficiency defaults by family: the fraction of peak a real stack reaches.
 *
 * - decodeBandwidth: decode kernels in vLLM / TensorRT-LLM / JetStream reach about
 *   70-85% of peak HBM bandwidth on mature stacks; 0.80 for NVIDIA and TPU, lower
 *   where the serving software is younger (Neuron, ROCm) or barely public (Maia).
 * - prefillCompute: large prefill GEMMs plus attention, norms and communication
 *   land around half of peak matrix throughput on mature stacks.
 * - trainingMfu: published MFU is ~46% for PaLM 540B on TPU v4 and 38-43% for
 *   Llama 3 405B on H100; A100 and TPU get 0.45 (long-tuned stacks, lower peak
 *   to feed), Hopper/Blackwell 0.40 (higher peak is harder to feed), and the
 *   younger software stacks (Neuron, ROCm, Maia) less.
 *
 * All are defaults, not measurements of a given workload; override them per fleet.
 */
const nvidiaModern: EfficiencyFactors = { decodeBandwidth: 0.8, prefillCompute: 0.55, trainingMfu: 0.4 };
const nvidiaAmpere: EfficiencyFactors = { decodeBandwidth: 0.8, prefillCompute: 0.55, trainingMfu: 0.45 };
const googleTpu: EfficiencyFactors = { decodeBandwidth: 0.8, prefillCompute: 0.55, trainingMfu: 0.45 };
const awsNeuron: EfficiencyFactors = { decodeBandwidth: 0.7, prefillCompute: 0.45, trainingMfu: 0.35 };
const amdInstinct: EfficiencyFactors = { decodeBandwidth: 0.7, prefillCompute: 0.45, trainingMfu: 0.35 };
const microsoftMaia: EfficiencyFactors = { decodeBandwidth: 0.65, prefillCompute: 0.4, trainingMfu: 0.3 };

const efficiencyNote = 'Efficiency factors are family defaults (see the comment above the catalog), not measurements.';

/**
 * Note shared by the GPU entries: the catalog's IT power is the chip's share of its
 * server (GPU board plus host CPUs, DRAM, NICs, fans and switches), so that every
 * vendor is compared on the same basis as the TPU/Trainium rack shares.
 */
const serverSharePower = 'IT power is the per-GPU share of the whole server, not the board TDP alone.';

const skypilotGcp = 'github skypilot-org/skypilot-catalog catalogs/v8/gcp/vms.csv (stored snapshot)';
const vantageAws = 'github tsaol/aws-gpu data/<family>_instances.js (instances.vantage.sh data, 2026-01-21)';
const capacityBlocks =
  "GitHub 'Capacity Blocks for ML Practical Guide' (repo not identified by search tool; mirrors aws.amazon.com/ec2/capacityblocks/pricing, 'as of Oct 26')";

/*
 * scaleUpGBps is one direction per chip, halved from the CSV's bidirectional
 * figures (TPU v5e 400 -> 200, Trainium2 1280 -> 640, Maia 100 600 -> 300 of its
 * Ethernet backend, Maia 200 2800 -> 1400); Trainium1's 384 and Inferentia2's 192
 * are taken as bidirectional too (-> 192, 96).
 */
export const accelerators: readonly AcceleratorSpec[] = [
  // ---------------------------------------------------------------- Google
  {
    id: 'tpu-v4',
    name: 'Google TPU v4',
    vendor: 'google',
    year: 2021,
    peakTflops: { bf16: 275, int8: 275 },
    hbmGB: 34.36, // 32 GiB
    hbmTBps: 1.2,
    itPowerW: 270,
    powerBasis: 'estimate',
    powerNote:
      'Estimate built on a measurement: Google measured the chip at 90/170/192 W (min/mean/max); 192 W max plus ~75 W per chip for the host (4 chips per host: CPUs, DRAM, NICs) and ICI/OCS share gives ~270 W of IT power per chip.',
    scaleUpDomain: 64,
    scaleUpGBps: 270,
    efficiency: googleTpu,
    pricePerChipHour: { gcp: 3.22 },
    sources: {
      compute:
        'docs.cloud.google.com/tpu/docs/v4 (Google Cloud TPU docs); github jax-ml/jax jax/_src/pallas/mosaic/tpu_info.py; github jax-ml/scaling-book tpus.md',
      memory: 'docs.cloud.google.com/tpu/docs/v4 (Google Cloud TPU docs); github jax-ml/jax jax/_src/pallas/mosaic/tpu_info.py',
      power:
        'Chip: 90/170/192 W (min/mean/max measured, Google); host/network share: estimate (see powerNote)',
      price: `${skypilotGcp}; us-central2; tpu-v4-8 = $12.88/hr for 4 chips; catalog snapshot (list price)`,
      scaleUp:
        'ICI, 3D torus, 6 links + OCS, ~270 GB/s uni per chip (derived, scaling-book); pods up to 4096 chips; TP domain = one 4x4x4 cube (64 chips)',
    },
    caveats:
      'No FP8 (INT8 275 TOPS). ICI per-chip total derived, not a Google headline number. Power is chip measurement plus an estimated host/network share. Pods reach 4096 chips; 64 (one cube) is the tensor-parallel domain used here, an interpretation. ' +
      efficiencyNote,
  },
  {
    id: 'tpu-v5e',
    name: 'Google TPU v5e',
    vendor: 'google',
    year: 2023,
    peakTflops: { bf16: 197, int8: 394 },
    hbmGB: 17.18, // 16 GiB (jax tpu_info.py: 17.2e9 bytes)
    hbmTBps: 0.819,
    itPowerW: 250,
    powerBasis: 'estimate',
    powerNote:
      'Estimate: Google publishes no chip power. v5e is a single-TensorCore, air-cooled inference part with less compute than v4 (192 W max measured), so ~150-200 W per chip, plus ~50 W per chip of host share (8 chips per host, 2 x 100 Gbps NICs): ~250 W, rounded up.',
    scaleUpDomain: 256,
    scaleUpGBps: 200,
    efficiency: googleTpu,
    pricePerChipHour: { gcp: 1.2 },
    sources: {
      compute: 'docs.cloud.google.com/tpu/docs/v5e (Google Cloud TPU docs); github jax-ml/jax jax/_src/pallas/mosaic/tpu_info.py',
      memory: 'docs.cloud.google.com/tpu/docs/v5e (Google Cloud TPU docs); github jax-ml/jax jax/_src/pallas/mosaic/tpu_info.py',
      power: 'estimate: not published; scaled from TPU v4 measured chip power plus host share (see powerNote)',
      price: `${skypilotGcp}; us-central1; v5litepod-1 = $1.20/hr; catalog snapshot (list price)`,
      scaleUp: 'ICI, 2D torus, 4 ports, 400 GB/s bidi per chip; 256 chips per pod (docs.cloud.google.com/tpu/docs/v5e)',
    },
    caveats:
      'No FP8 (INT8 394 TOPS). Power not published: 250 W is an estimate. Some doc versions list 800 GiB/s HBM (0.819 TB/s used). ' +
      efficiencyNote,
  },
  {
    id: 'tpu-v5p',
    name: 'Google TPU v5p',
    vendor: 'google',
    year: 2023,
    peakTflops: { bf16: 459, fp8: 459, int8: 918 },
    hbmGB: 102.01, // 95 GiB, as Google's docs give it (jax tpu_info.py: 103e9 bytes, about 96 GiB)
    hbmTBps: 2.765,
    itPowerW: 550,
    powerBasis: 'estimate',
    powerNote:
      'Estimate: Google publishes no chip power. v5p is a liquid-cooled two-TensorCore training chip with ~1.7x the FLOPs and ~2.3x the HBM bandwidth of v4 (192 W max measured), so ~400-475 W per chip, plus ~75 W host/ICI share (4 chips per host): ~550 W.',
    scaleUpDomain: 64,
    scaleUpGBps: 600,
    efficiency: googleTpu,
    pricePerChipHour: { gcp: 4.2 },
    sources: {
      compute:
        'docs.cloud.google.com/tpu/docs/v5p-training (Google Cloud TPU docs); github jax-ml/jax jax/_src/pallas/mosaic/tpu_info.py',
      memory:
        'docs.cloud.google.com/tpu/docs/v5p-training (Google Cloud TPU docs); github jax-ml/jax jax/_src/pallas/mosaic/tpu_info.py',
      power: 'estimate: not published; scaled from TPU v4 measured chip power plus host share (see powerNote)',
      price: `${skypilotGcp}; us-central1; tpu-v5p-8 = $16.80/hr for 4 chips; catalog snapshot (list price)`,
      scaleUp:
        'ICI, 3D torus + OCS, 6 ports, 1200 GB/s bidi per chip; pods up to 8960 chips (max single slice 6144); TP domain = one 4x4x4 cube (64 chips)',
    },
    caveats:
      'FP8 is listed at the BF16 rate (459, no FP8 speedup), so fp8 is set equal to bf16; INT8 918 TOPS. Power not published: 550 W is an estimate. 64 (one cube) is the tensor-parallel domain used here, an interpretation; slices are far larger. ' +
      efficiencyNote,
  },
  {
    id: 'tpu-v6e',
    name: 'Google TPU v6e (Trillium)',
    vendor: 'google',
    year: 2024,
    peakTflops: { bf16: 918, fp8: 918, int8: 1836 },
    hbmGB: 34.36, // 32 GiB (jax tpu_info.py: 34.4e9 bytes)
    hbmTBps: 1.64,
    itPowerW: 500,
    powerBasis: 'estimate',
    powerNote:
      "Estimate: Google publishes no chip power. Google's claims of 4.7x v5e peak compute at 67% better energy efficiency imply ~2.8x v5e chip power, i.e. a ~350-450 W chip class; plus ~60 W per chip of host share (8 chips per host, 4 x 200 Gbps NICs): ~500 W, rounded up.",
    scaleUpDomain: 256,
    scaleUpGBps: 400,
    efficiency: googleTpu,
    pricePerChipHour: { gcp: 2.7 },
    sources: {
      compute: 'docs.cloud.google.com/tpu/docs/v6e (Google Cloud TPU docs); github jax-ml/jax jax/_src/pallas/mosaic/tpu_info.py',
      memory: 'docs.cloud.google.com/tpu/docs/v6e (Google Cloud TPU docs); github jax-ml/jax jax/_src/pallas/mosaic/tpu_info.py',
      power:
        'estimate: not published; derived from Google claims (4.7x v5e compute, 67% more energy-efficient) plus host share (see powerNote)',
      price: `${skypilotGcp}; us-central1; tpu-v6e-1 = $2.70/hr; catalog snapshot (list price)`,
      scaleUp: 'ICI, 2D torus, 4 ports, 800 GB/s bidi per chip; 256 chips per pod (docs.cloud.google.com/tpu/docs/v6e)',
    },
    caveats:
      'FP8 at the BF16 rate (918, no FP8 speedup); INT8 1836 TOPS. Power not published: 500 W is an estimate. ' + efficiencyNote,
  },
  {
    id: 'tpu7x',
    name: 'Google TPU7x (Ironwood)',
    vendor: 'google',
    year: 2025,
    peakTflops: { bf16: 2307, fp8: 4614 },
    hbmGB: 206.16, // 192 GiB
    hbmTBps: 7.37,
    itPowerW: 1600,
    powerBasis: 'rack-share',
    powerNote:
      'Rack share (derived): Hot Chips 2025 reports put a 64-chip Ironwood rack above 100 kW, i.e. >1.56 kW per chip including hosts; 1600 W used. Check: 1 million chips x 1.6 kW x PUE 1.1 = 1.76 GW, consistent with public reporting of "well over a gigawatt" for one million TPUs.',
    scaleUpDomain: 64,
    scaleUpGBps: 600,
    efficiency: googleTpu,
    pricePerChipHour: {},
    sources: {
      compute:
        'docs.cloud.google.com/tpu/docs/tpu7x; jax tpu_info.py (7.40e12 B/s, 2.31e15 bf16); Hot Chips 2025 coverage (mattfife.com, pakgazette.com)',
      memory: 'docs.cloud.google.com/tpu/docs/tpu7x; jax tpu_info.py (7.40e12 B/s); 192 GiB per chip',
      power:
        'rack share (derived): not published per chip; rack of 64 chips >100 kW per Hot Chips 2025 reports => ~1.6 kW/chip',
      price: 'not found: price not public in sources found',
      scaleUp:
        'ICI, 3D torus of 4x4x4 cubes + OCS, ~1200 GB/s bidi per chip (reported 1.2 TB/s I/O); pods up to 9216 chips; TP domain = one 4x4x4 cube (64 chips)',
    },
    caveats:
      'Price not public in sources found; chip power not published (1600 W is a rack share derived from a ">100 kW" lower bound); ICI figure from press, not the docs table. HBM bandwidth given as 7.37-7.4 TB/s: the lower figure is used. No INT8 figure published (omitted). 64 (one cube) is the tensor-parallel domain used here, an interpretation. ' +
      efficiencyNote,
  },

  // ---------------------------------------------------------------- AWS
  {
    id: 'trainium1',
    name: 'AWS Trainium (Trn1)',
    vendor: 'aws',
    year: 2022,
    peakTflops: { bf16: 190, fp8: 190, int8: 380 },
    hbmGB: 34.36, // 32 GiB
    hbmTBps: 0.82,
    itPowerW: 450,
    powerBasis: 'estimate',
    powerNote:
      'Estimate: AWS publishes no chip power. The chip is close to Inferentia2 (same NeuronCore-v2 pair and HBM) with more NeuronLink I/O, so a <=400 W chip is assumed, plus ~50-75 W per chip of host/EFA share (16 chips per trn1.32xlarge): ~450 W.',
    scaleUpDomain: 16,
    scaleUpGBps: 192,
    efficiency: awsNeuron,
    pricePerChipHour: { aws: 1.34 },
    sources: {
      compute:
        'awsdocs-neuron trainium.rst / trn1-arch (github aws-neuron/aws-neuron-sdk); github tsaol/aws-gpu data/*_instances.js (auto-generated from instances.vantage.sh, updated 2026-01-21)',
      memory: 'awsdocs-neuron trainium.rst / trn1-arch (github aws-neuron/aws-neuron-sdk); 32 GiB per chip',
      power: 'estimate: not published; assumed Inferentia2-class chip with more I/O plus host share (see powerNote)',
      price: `${vantageAws}; us-east-1 on-demand trn1.32xlarge $21.50/hr /16; 2026-01-21 (list on-demand)`,
      scaleUp:
        'NeuronLink-v2 (2D torus in server), 384 GB/s (trn1) / 768 GB/s (trn1n) per chip; 16 chips per instance (memory pool 16)',
    },
    caveats:
      'cFP8 runs at the BF16 rate (190), so fp8 equals bf16; INT8 380 TOPS. Power not published: 450 W is an estimate. ' +
      efficiencyNote,
  },
  {
    id: 'trainium2',
    name: 'AWS Trainium2',
    vendor: 'aws',
    year: 2024,
    peakTflops: { bf16: 667, fp8: 1299 },
    hbmGB: 103.08, // 96 GiB
    hbmTBps: 2.9,
    itPowerW: 650,
    powerBasis: 'estimate',
    powerNote:
      'Estimate: AWS publishes no chip power; industry estimates (SemiAnalysis) put the chip at ~500 W. Adding the share of the CPU head tray, EFAv3 NICs and NeuronLink cabling (16 chips per trn2.48xlarge) gives ~650 W of IT power per chip.',
    scaleUpDomain: 64,
    scaleUpGBps: 640,
    efficiency: awsNeuron,
    pricePerChipHour: { aws: 2.235 },
    sources: {
      compute:
        'github aws-neuron/aws-neuron-sdk about-neuron/arch/neuron-hardware/trainium2.rst; trn2-arch page (FP8 1299 dense, 2563 sparse)',
      memory: 'github aws-neuron/aws-neuron-sdk about-neuron/arch/neuron-hardware/trainium2.rst; 96 GiB per chip',
      power:
        'estimate: not published (industry est. ~500 W chip, unconfirmed) plus host/network share (see powerNote)',
      price: `${capacityBlocks}; corroborated by GitHub benchmark note '2 Trn2 chips ($4.47/hr)'; trn2.48xlarge $35.76/hr /16; Ohio/Hyderabad; Capacity Block price, not on-demand (table as of Oct 2026)`,
      scaleUp:
        'NeuronLink-v3 (4x4 2D torus in instance; ring across 4 instances), 1280 GB/s per chip; 64 chips per Trn2 UltraServer, 16 per trn2.48xlarge',
    },
    caveats:
      'On-demand price not found; the price is a Capacity Block price from a third-party copy of aws.amazon.com/ec2/capacityblocks/pricing. TDP unpublished: 650 W is an estimate. No INT8 figure published (omitted). The 64-chip domain needs an UltraServer; a plain trn2.48xlarge gives 16. ' +
      efficiencyNote,
  },
  {
    id: 'trainium3',
    name: 'AWS Trainium3',
    vendor: 'aws',
    year: 2025,
    peakTflops: { bf16: 671, fp8: 2517, fp4: 2517 },
    hbmGB: 154.62, // 144 GiB
    hbmTBps: 4.9,
    itPowerW: 1200,
    powerBasis: 'estimate',
    powerNote:
      'Estimate: AWS publishes no chip power; its VP of infrastructure tied the next Trainium to liquid cooling "above 1,000 watts" (reported as ~1 kW class, unconfirmed). ~1 kW chip plus ~200 W share of hosts, NeuronSwitch and EFA: ~1200 W.',
    scaleUpDomain: 144,
    scaleUpGBps: 1280,
    efficiency: awsNeuron,
    pricePerChipHour: {},
    sources: {
      compute:
        'github aws-neuron/aws-neuron-sdk about-neuron/arch/neuron-hardware/trainium3.rst and trn3-arch.rst (MXFP8 2517, MXFP4 2517)',
      memory: 'github aws-neuron/aws-neuron-sdk about-neuron/arch/neuron-hardware/trainium3.rst; 144 GiB per chip',
      power: 'estimate: not published (reports of ~1 kW class unconfirmed) plus host/switch share (see powerNote)',
      price: 'not found',
      scaleUp:
        'NeuronLink-v4 + NeuronSwitch-v1 (all-to-all), 2560 GB/s per chip (chip page; UltraServer table says 2048 GiB/s); 144 chips per Trn3 Gen2 UltraServer (Gen1 = 64)',
    },
    caveats:
      'BF16 not improved vs Trn2; FP8 and FP4 figures are MX (microscaling) formats at the same 2517 rate. Power and pricing unconfirmed: 1200 W is an estimate. No INT8 figure published (omitted). 144 assumes a Gen2 UltraServer (Gen1: 64). ' +
      efficiencyNote,
  },
  {
    id: 'inferentia2',
    name: 'AWS Inferentia2',
    vendor: 'aws',
    year: 2023,
    peakTflops: { bf16: 190, fp8: 190, int8: 380 },
    hbmGB: 34.36, // 32 GiB
    hbmTBps: 0.82,
    itPowerW: 350,
    powerBasis: 'estimate',
    powerNote:
      'Estimate: AWS publishes no chip power. An air-cooled inference chip of Trainium1 class (single-chip inf2.xlarge exists) is assumed at <=300 W, plus ~50 W per chip of host share (12 chips per inf2.48xlarge): ~350 W.',
    scaleUpDomain: 12,
    scaleUpGBps: 96,
    efficiency: awsNeuron,
    pricePerChipHour: { aws: 1.08 },
    sources: {
      compute:
        'github aws-neuron/aws-neuron-sdk about-neuron/arch/neuron-hardware/inferentia2.rst; inf2-arch page; github tsaol/aws-gpu data/*_instances.js (auto-generated from instances.vantage.sh, updated 2026-01-21)',
      memory: 'github aws-neuron/aws-neuron-sdk about-neuron/arch/neuron-hardware/inferentia2.rst; 32 GiB per chip',
      power: 'estimate: not published; assumed Trainium1-class chip plus host share (see powerNote)',
      price: `${vantageAws}; us-east-1 on-demand inf2.48xlarge $12.98/hr /12 (inf2.xlarge 1 chip $0.758/hr); 2026-01-21 (list on-demand)`,
      scaleUp: 'NeuronLink-v2 (ring), 192 GiB/s per chip; 12 chips per inf2.48xlarge',
    },
    caveats:
      'cFP8 runs at the BF16 rate (190), so fp8 equals bf16; INT8 380 TOPS. Power not published: 350 W is an estimate. ' +
      efficiencyNote,
  },

  // ---------------------------------------------------------------- NVIDIA
  {
    id: 'a100',
    name: 'NVIDIA A100 80GB SXM',
    vendor: 'nvidia',
    year: 2020,
    peakTflops: { bf16: 312, int8: 624 },
    hbmGB: 80,
    hbmTBps: 2.039,
    itPowerW: 810,
    powerBasis: 'rack-share',
    powerNote: `NVIDIA board TDP 400 W (CTS up to 500 W); DGX A100 system max 6.5 kW for 8 GPUs => ~810 W per GPU. ${serverSharePower}`,
    scaleUpDomain: 8,
    scaleUpGBps: 300,
    efficiency: nvidiaAmpere,
    pricePerChipHour: { aws: 3.43 },
    sources: {
      compute:
        'github stas00/ml-engineering compute/accelerator/README.md (NVIDIA A100 datasheet); github tsaol/aws-gpu data/*_instances.js (auto-generated from instances.vantage.sh, updated 2026-01-21)',
      memory: 'github stas00/ml-engineering compute/accelerator/README.md (NVIDIA A100 datasheet)',
      power: 'NVIDIA A100 datasheet: 400 W per-GPU board max TDP (CTS up to 500 W)',
      price: `${vantageAws}; us-east-1 on-demand p4de.24xlarge $27.45/hr /8; 2026-01-21 (list on-demand)`,
      scaleUp: 'NVLink 3 / NVSwitch, 600 GB/s bidi (300 uni); 8 GPUs (HGX A100)',
    },
    caveats: 'No FP8 (INT8 624 TOPS). IT power is the per-GPU server share (see powerNote). ' + efficiencyNote,
  },
  {
    id: 'h100',
    name: 'NVIDIA H100 SXM',
    vendor: 'nvidia',
    year: 2022,
    peakTflops: { bf16: 989, fp8: 1979, int8: 1979 },
    hbmGB: 80,
    hbmTBps: 3.35,
    itPowerW: 1275,
    powerBasis: 'rack-share',
    powerNote: `NVIDIA board TDP 700 W; DGX H100 system max ~10.2 kW for 8 GPUs => ~1275 W per GPU. ${serverSharePower}`,
    scaleUpDomain: 8,
    scaleUpGBps: 450,
    efficiency: nvidiaModern,
    pricePerChipHour: { aws: 6.88, azure: 12.29, gcp: 10.98 },
    sources: {
      compute:
        'github stas00/ml-engineering compute/accelerator/README.md + network/README.md; INT8 dense TOPS = FP8 rate per NVIDIA H100 datasheet',
      memory: 'github stas00/ml-engineering compute/accelerator/README.md',
      power: 'NVIDIA: 700 W per-GPU max TDP (SXM)',
      price: `AWS: ${vantageAws}; us-east-1 p5.48xlarge $55.04/hr /8, 2026-01-21 (after ~44% June-2025 cut from $98.32). Azure ND96isr_H100_v5 $98.32/hr /8; GCP a3-highgpu per third-party Apr 2026: GitHub cloud_prices.json design doc (as_of 2026-04-30). List on-demand prices`,
      scaleUp: 'NVLink 4 / NVSwitch, 900 GB/s bidi (450 uni); 8 GPUs (HGX); 256 possible via NVLink Switch System (rare)',
    },
    caveats: 'Azure/GCP prices from third-party compilations. IT power is the per-GPU server share (see powerNote). ' + efficiencyNote,
  },
  {
    id: 'h200',
    name: 'NVIDIA H200 SXM',
    vendor: 'nvidia',
    year: 2024,
    peakTflops: { bf16: 989, fp8: 1979, int8: 1979 },
    hbmGB: 141,
    hbmTBps: 4.8,
    itPowerW: 1275,
    powerBasis: 'rack-share',
    powerNote: `NVIDIA board TDP 700 W; H200 ships in the same 8-GPU HGX chassis as H100 (DGX H200 ~10.2 kW) => ~1275 W per GPU. ${serverSharePower}`,
    scaleUpDomain: 8,
    scaleUpGBps: 450,
    efficiency: nvidiaModern,
    pricePerChipHour: { aws: 7.91 },
    sources: {
      compute: 'github stas00/ml-engineering; INT8 dense TOPS = FP8 rate per NVIDIA H200 datasheet',
      memory: 'github stas00/ml-engineering',
      power: 'github mlcommons/inference_results_v4.1 closed/NVIDIA/systems (H200 TGP 700W)',
      price: `${vantageAws}; us-east-1 on-demand p5en.48xlarge $63.30/hr /8; 2026-01-21 (list on-demand)`,
      scaleUp: 'NVLink 4 / NVSwitch, 900 GB/s bidi; 8 GPUs (HGX)',
    },
    caveats: 'IT power is the per-GPU server share (see powerNote). ' + efficiencyNote,
  },
  {
    id: 'b200',
    name: 'NVIDIA B200 (HGX)',
    vendor: 'nvidia',
    year: 2024,
    peakTflops: { bf16: 2250, fp8: 4500, int8: 4500, fp4: 9000 },
    hbmGB: 180,
    hbmTBps: 8.0,
    itPowerW: 1790,
    powerBasis: 'rack-share',
    powerNote: `NVIDIA per-GPU TGP 1000 W; DGX B200 system max ~14.3 kW for 8 GPUs => ~1790 W per GPU. ${serverSharePower}`,
    scaleUpDomain: 8,
    scaleUpGBps: 900,
    efficiency: nvidiaModern,
    pricePerChipHour: { aws: 14.24 },
    sources: {
      compute:
        'github stas00/ml-engineering (DGX B200 datasheet); FP4 9 PF dense per GPU = NVIDIA HGX B200 figure (144 PF sparse FP4 per 8 GPUs); INT8 dense = FP8 rate',
      memory: 'github stas00/ml-engineering (DGX B200 datasheet): 180 GB usable (192 GB marketed); 8.0 TB/s (7.7 in some docs)',
      power: 'github stas00/ml-engineering (DGX B200 datasheet/power capping): 1000 W per-GPU max TGP',
      price: `${vantageAws}; us-east-1 on-demand p6-b200.48xlarge $113.93/hr /8; 2026-01-21 (list on-demand)`,
      scaleUp: 'NVLink 5 / NVSwitch, 1800 GB/s bidi (900 uni); 8 GPUs (HGX B200)',
    },
    caveats:
      'HBM BW 7.7 vs 8 TB/s varies by source (8.0 used). HBM: 180 GB usable used, 192 GB marketed. IT power is the per-GPU server share (see powerNote). ' +
      efficiencyNote,
  },
  {
    id: 'b300',
    name: 'NVIDIA B300 (HGX, Blackwell Ultra)',
    vendor: 'nvidia',
    year: 2025,
    peakTflops: { bf16: 2250, fp8: 4500, int8: 150, fp4: 13125 },
    hbmGB: 270,
    hbmTBps: 8.0,
    itPowerW: 1900,
    powerBasis: 'estimate',
    powerNote: `Estimate: per-GPU TGP 1100 W (sources differ, 1000-1100 W) plus the ~790 W per-GPU host share seen in DGX B200 => ~1900 W. ${serverSharePower}`,
    scaleUpDomain: 8,
    scaleUpGBps: 900,
    efficiency: nvidiaModern,
    pricePerChipHour: { aws: 17.8 },
    sources: {
      compute:
        'github stas00/ml-engineering; verda.com/blog/gb300-nvl72-architecture (per-GPU dense table: FP4 14 PF, INT8 0.15 POPS); glennklockwood.com/garden/processors/B300 (HGX B300 dense FP4 13.125 PF)',
      memory: 'github stas00/ml-engineering; verda.com/blog/gb300-nvl72-architecture: 288 GB marketed, 270 GB usable',
      power: 'github stas00/ml-engineering; verda.com GB300 blog: 1000-1100 W per-GPU max TGP (sources differ)',
      price: `${vantageAws}; us-west-2 on-demand p6-b300.48xlarge $142.42/hr /8; 2026-01-21 (list on-demand)`,
      scaleUp: 'NVLink 5 / NVSwitch, 1800 GB/s bidi; 8 GPUs (HGX B300)',
    },
    caveats:
      'Row added to the reference set (not in the original brief). TDP differs 1000 vs 1100 W (1100 used). HBM: 270 GB usable used, 288 GB marketed. FP4 dense is 13.1-14 PF by source (the lower 13125 used). Blackwell Ultra cuts dense INT8 to ~0.15 POPS (int8 150): serve 8-bit models in FP8 on this chip. IT power is the per-GPU server share (see powerNote). ' +
      efficiencyNote,
  },
  {
    id: 'gb200',
    name: 'NVIDIA GB200 (per B200 GPU in NVL72)',
    vendor: 'nvidia',
    year: 2025,
    peakTflops: { bf16: 2500, fp8: 5000, int8: 5000, fp4: 10000 },
    hbmGB: 186,
    hbmTBps: 8.0,
    itPowerW: 1750,
    powerBasis: 'rack-share',
    powerNote:
      'Rack share: an NVL72 rack draws ~120-132 kW for 72 GPUs including 36 Grace CPUs, NVLink switch trays and NICs, i.e. ~1670-1830 W per GPU; 1750 W (126 kW / 72) used. The GPU alone is rated up to 1200 W.',
    scaleUpDomain: 72,
    scaleUpGBps: 900,
    efficiency: nvidiaModern,
    pricePerChipHour: { aws: 10.58 },
    sources: {
      compute:
        'github stas00/ml-engineering (NVIDIA GB200 NVL72 spec); FP4 10 PF dense per GPU = NVIDIA GB200 NVL72 figure (1440 PF sparse FP4 per 72 GPUs); INT8 dense = FP8 rate; introl.com GB200 NVL72 deployment',
      memory: 'github stas00/ml-engineering (NVIDIA GB200 NVL72 spec): 186 GB usable (192 GB marketed)',
      power:
        'rack share: NVL72 rack ~120-132 kW incl. CPUs/switches (github stas00/ml-engineering Mission Control power FAQ; introl.com); GPU 1200 W max',
      price: `${capacityBlocks}; u-p6e-gb200x72 $761.90/hr /72; Dallas Local Zone; Capacity Block price, not on-demand (table as of Oct 2026)`,
      scaleUp: 'NVLink 5 + NVLink Switch trays, 1800 GB/s bidi per GPU; 72 GPUs (NVL72; 130 TB/s aggregate)',
    },
    caveats:
      'No public on-demand list price found; price is an AWS Capacity Block rate. HBM: 186 GB usable used, 192 GB marketed. Power is a rack share (includes CPUs and switches). ' +
      efficiencyNote,
  },
  {
    id: 'gb300',
    name: 'NVIDIA GB300 (per B300 GPU in NVL72)',
    vendor: 'nvidia',
    year: 2025,
    peakTflops: { bf16: 2500, fp8: 5000, int8: 165, fp4: 15000 },
    hbmGB: 279,
    hbmTBps: 8.0,
    itPowerW: 1875,
    powerBasis: 'rack-share',
    powerNote:
      'Rack share: NVIDIA planning example budgets ~135 kW per GB300 NVL72 rack including Grace CPUs, switch trays and NICs; 135 kW / 72 = 1875 W per GPU. The GPU alone is rated up to 1400 W.',
    scaleUpDomain: 72,
    scaleUpGBps: 900,
    efficiency: nvidiaModern,
    pricePerChipHour: {},
    sources: {
      compute:
        'github stas00/ml-engineering (NVIDIA GB300 NVL72 spec); verda.com GB300 blog (per-GPU dense FP4 15 PF, INT8 0.165 POPS; rack 1080 PF dense FP4 / 72)',
      memory: 'github stas00/ml-engineering (NVIDIA GB300 NVL72 spec); verda.com GB300 blog: 279 GB usable (288 GB marketed)',
      power:
        'rack share: ~135 kW rack budget (NVIDIA planning example, github stas00/ml-engineering Mission Control FAQ) / 72; GPU 1400 W max',
      price: 'not found',
      scaleUp: 'NVLink 5 + NVLink Switch trays, 1800 GB/s bidi per GPU; 72 GPUs (NVL72)',
    },
    caveats:
      'Price not found; AWS/GCP GB300 availability unconfirmed (Azure ND GB300 v6, CoreWeave confirmed). HBM: 279 GB usable used, 288 GB marketed. Blackwell Ultra cuts dense INT8 to ~0.165 POPS (int8 165): serve 8-bit models in FP8. Power is a rack share (includes CPUs and switches). ' +
      efficiencyNote,
  },

  // ---------------------------------------------------------------- AMD
  {
    id: 'mi300x',
    name: 'AMD Instinct MI300X',
    vendor: 'amd',
    year: 2023,
    peakTflops: { bf16: 1307, fp8: 2615, int8: 2615 },
    hbmGB: 192,
    hbmTBps: 5.3,
    itPowerW: 1250,
    powerBasis: 'estimate',
    powerNote: `Estimate: AMD board power 750 W plus ~500 W per-GPU host share (8-GPU OAM servers draw ~10 kW) => ~1250 W. ${serverSharePower}`,
    scaleUpDomain: 8,
    scaleUpGBps: 448,
    efficiency: amdInstinct,
    pricePerChipHour: { azure: 6.0 },
    sources: {
      compute:
        'github stas00/ml-engineering (AMD MI300X spec page) + network/README.md; cliffcenter.com AMD inference economics; INT8 dense 2615 TOPS = FP8 rate per AMD datasheet',
      memory: 'github stas00/ml-engineering (AMD MI300X spec page)',
      power: 'AMD: 750 W peak TBP (board)',
      price:
        'cliffcenter.com/research/amd-inference-economics (2026-05-18); GitHub cloud_prices.json design doc (as_of 2026-04-30): Azure ND96isr_MI300X_v5 ~$6.00 per GPU-hour on-demand, approximate (trackers conflict); neoclouds (TensorWave/Vultr) $1.50-1.85 per third-party May 2026, not keyed here',
      scaleUp: 'Infinity Fabric / xGMI (7 links x 64 GB/s), 448 GB/s uni / 896 bidi (all-to-all); 8 GPUs',
    },
    caveats: 'Azure on-demand price approximate. IT power is an estimated per-GPU server share (see powerNote). ' + efficiencyNote,
  },
  {
    id: 'mi325x',
    name: 'AMD Instinct MI325X',
    vendor: 'amd',
    year: 2024,
    peakTflops: { bf16: 1307, fp8: 2615, int8: 2615 },
    hbmGB: 256,
    hbmTBps: 6.0,
    itPowerW: 1500,
    powerBasis: 'estimate',
    powerNote: `Estimate: AMD board power 1000 W plus ~500 W per-GPU host share of an 8-GPU OAM server => ~1500 W. ${serverSharePower}`,
    scaleUpDomain: 8,
    scaleUpGBps: 448,
    efficiency: amdInstinct,
    pricePerChipHour: {},
    sources: {
      compute: 'github stas00/ml-engineering (AMD MI325X spec page); INT8 dense 2615 TOPS = FP8 rate per AMD datasheet',
      memory: 'github stas00/ml-engineering (AMD MI325X spec page)',
      power: 'AMD: 1000 W peak TBP (board)',
      price:
        'cliffcenter.com/research/amd-inference-economics (2026-05-18): ~$1.95 per GPU-hour at TensorWave (neocloud, per third-party May 2026); no price found at gcp/aws/azure/oci/coreweave, so none is keyed',
      scaleUp: 'Infinity Fabric / xGMI, 448 GB/s uni / 896 bidi; 8 GPUs',
    },
    caveats:
      'Hyperscaler availability unconfirmed; only a neocloud price exists (not keyed). IT power is an estimated per-GPU server share (see powerNote). ' +
      efficiencyNote,
  },
  {
    id: 'mi355x',
    name: 'AMD Instinct MI355X',
    vendor: 'amd',
    year: 2025,
    peakTflops: { bf16: 2500, fp8: 5000, fp4: 10000 },
    hbmGB: 288,
    hbmTBps: 8.0,
    itPowerW: 1900,
    powerBasis: 'estimate',
    powerNote: `Estimate: AMD board power 1400 W (liquid-cooled) plus ~500 W per-GPU host share of an 8-GPU server => ~1900 W. ${serverSharePower}`,
    scaleUpDomain: 8,
    scaleUpGBps: 535,
    efficiency: amdInstinct,
    pricePerChipHour: {},
    sources: {
      compute:
        'github stas00/ml-engineering (AMD MI355X spec page, note 22); nextplatform Oracle/AMD; aiwiki MI355X; FP4: AMD 10 PF dense MXFP4',
      memory: 'github stas00/ml-engineering (AMD MI355X spec page)',
      power: 'AMD: 1400 W TBP (board), liquid-cooled',
      price: 'not found',
      scaleUp: 'Infinity Fabric / xGMI (7 links x 76.5 GB/s), 535.5 GB/s uni / 1071 bidi; 8 GPUs',
    },
    caveats:
      'BF16 2.5 vs 2.3 PF discrepancy (AMD figure 2500 used; MAMF table uses 2300). FP8 sparse 10100 is not used (dense only). INT8 not in the reference data (omitted). Price not found. IT power is an estimated per-GPU server share (see powerNote). ' +
      efficiencyNote,
  },

  // ---------------------------------------------------------------- Microsoft
  {
    id: 'maia-100',
    name: 'Microsoft Maia 100',
    vendor: 'microsoft',
    year: 2023,
    peakTflops: { bf16: 800 },
    hbmGB: 64,
    hbmTBps: 1.8,
    itPowerW: 900,
    powerBasis: 'estimate',
    powerNote: `Estimate: chip design TDP 700 W (provisioned at 500 W) plus ~200 W host and network share => ~900 W. ${serverSharePower}`,
    scaleUpDomain: 8,
    scaleUpGBps: 300,
    efficiency: microsoftMaia,
    pricePerChipHour: {},
    sources: {
      compute: 'Hot Chips 2024 coverage (neowin.net, eeworld); ServeTheHome via u-s-news.com',
      memory: 'Hot Chips 2024 coverage (neowin.net, eeworld); ServeTheHome via u-s-news.com',
      power: 'Hot Chips 2024 coverage: 700 W design TDP / 500 W provisioned',
      price: 'n/a: Azure internal only (not rentable)',
      scaleUp:
        'Ethernet (RoCE-like), 12x400GbE, 600 GB/s backend network per chip; scale-up domain not published (8 is an estimate)',
    },
    caveats:
      'No standard FP8: the chip runs Microsoft MX formats (MX9 1500 / MX6 3000 TFLOPS), which are not mapped to fp8/fp4 here. Scale-up domain not published: 8 is an estimate. Power provisioned at 500 W in deployment vs 700 W design. Figures are vendor claims. ' +
      efficiencyNote,
  },
  {
    id: 'maia-200',
    name: 'Microsoft Maia 200',
    vendor: 'microsoft',
    year: 2026,
    peakTflops: { bf16: 2536, fp8: 5072, fp4: 10145 },
    hbmGB: 216,
    hbmTBps: 7,
    itPowerW: 950,
    powerBasis: 'estimate',
    powerNote: `Estimate: Microsoft SoC TDP 750 W plus ~200 W host and network share => ~950 W. ${serverSharePower}`,
    scaleUpDomain: 64,
    scaleUpGBps: 1400,
    efficiency: microsoftMaia,
    pricePerChipHour: {},
    sources: {
      compute:
        'blogs.microsoft.com/blog/2026/01/26/maia-200... (via windowsforum, techbuzz.ai, nnewstech): FP8 ~5072, FP4 ~10145; BF16 not published, estimated as half the FP8 rate',
      memory: 'blogs.microsoft.com/blog/2026/01/26/maia-200... (via windowsforum, techbuzz.ai, nnewstech): 216 GB, ~7 TB/s',
      power: 'blogs.microsoft.com/blog/2026/01/26/maia-200... (via windowsforum, techbuzz.ai, nnewstech): 750 W SoC TDP',
      price: 'n/a: Azure internal (US Central, US West 3); not rentable',
      scaleUp:
        'two-tier Ethernet scale-up, 2800 GB/s bidi per chip; clusters up to 6144 chips; tensor-parallel domain not published (64 is an estimate)',
    },
    caveats:
      'BF16 rate unconfirmed: 2536 is an estimate (half the FP8 rate, the usual ratio). Scale-up domain: 64 is an estimate of a well-served TP group within the 6144-chip Ethernet scale-up cluster. No INT8 figure (omitted). Figures are vendor claims. ' +
      efficiencyNote,
  },
];
