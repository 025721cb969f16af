"""The page without a browser: render it with Solara and click Step; the page's model."""

import pytest

solara = pytest.importorskip("solara")


def test_page_renders_and_steps():
    import ipyvuetify as v

    from abm_hetero.viz import app

    _, rc = solara.render(solara.AppLayout(children=[app.page]), handle_error=False)
    before = app.model.steps
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert app.model.steps == before + app.RENDER_INTERVAL
    rc.find(children=[f"Step: {app.model.steps}"]).assert_single()
    rc.close()


@pytest.mark.parametrize("population", ["learned-heterogeneous", "learned-homogeneous", "fcn",
                                        "zero-intelligence"])
def test_the_page_builds_the_model_from_its_controls(population):
    from abm_hetero.viz import app

    controls = {name: (c["value"] if isinstance(c, dict) else c)
                for name, c in app.MODEL_PARAMS.items()}
    # as SolaraViz passes them: the seed as typed, gamma's sliders crossed
    controls.update(population=population, traders=40, alpha_mean=1.0, alpha_sd=0.0,
                    gamma_low=0.9, gamma_high=0.8, seed=" 3")
    model = app.PageModel(**controls)
    assert model.settings.seed == 3
    for _ in range(5):
        model.step()
    assert model.steps == 5 and model.population == population
    if population != "learned-homogeneous":
        assert (model.groups[0].traits.alpha == 1.0).all()
        assert (model.groups[0].traits.gamma >= 0.8).all()
