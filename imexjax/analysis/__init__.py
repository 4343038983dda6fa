"""Stability analysis: absolute stability, receptive fields, perturbation growth, adversarial attacks."""

from ._adversarial import ATTACKS as ATTACKS
from ._adversarial import adversarial_metrics as adversarial_metrics
from ._adversarial import fgsm as fgsm
from ._adversarial import pgd as pgd
from ._functional import apply_model as apply_model
from ._functional import split_model as split_model
from ._growth import PerturbationGrowth as PerturbationGrowth
from ._growth import perturbation_growth as perturbation_growth
from ._jacobian import jacobian_spectral_norm as jacobian_spectral_norm
from ._plots import plot_adversarial as plot_adversarial
from ._plots import plot_perturbation_growth as plot_perturbation_growth
from ._plots import plot_receptive_fields as plot_receptive_fields
from ._plots import plot_stability_regions as plot_stability_regions
from ._receptive_field import ReceptiveField as ReceptiveField
from ._receptive_field import input_gradient as input_gradient
from ._receptive_field import receptive_field as receptive_field
from ._report import DEFAULT_EPSILONS as DEFAULT_EPSILONS
from ._report import StabilityReport as StabilityReport
from ._report import stability_report as stability_report
from ._stability import ScalarDiffusion as ScalarDiffusion
from ._stability import amplification_factor as amplification_factor
from ._stability import stability_region as stability_region
from ._trajectory import block_trajectory as block_trajectory
from ._trajectory import layer_states as layer_states
