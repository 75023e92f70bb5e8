"""Customer dashboard (placeholder until the dashboard issue lands)."""

import streamlit as st

st.title("exnaton energy dashboard")
st.info("The dashboard is being built; the pipeline runs in the Dagster UI.")
