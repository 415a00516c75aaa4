"""Views: the %batch magics, ipywidgets and plotly figures. Act only through core handles."""
