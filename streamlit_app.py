"""The dashboards' entry point (`python -m app dashboard` serves it): navigation only; pages live in app/dashboards."""

import streamlit as st

from app.dashboards import pages

st.set_page_config(page_title="Auction marketplace", page_icon=":material/gavel:", layout="wide")
st.navigation(
    [st.Page(p.render, title=p.title, url_path=p.url_path, icon=p.icon, default=i == 0) for i, p in enumerate(pages())]
).run()
